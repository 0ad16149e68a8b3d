//! The bytecode file format. Little-endian throughout:
//!
//! ```text
//! magic    8 bytes  "SIGCBC\r\n"
//! version  u32      FORMAT_VERSION
//! length   u64      payload bytes
//! checksum u64      FNV-1a 64 of the payload
//! payload  fields, tests, code, rules (see `encode`)
//! ```
//!
//! Loading checks the magic, the version, the length and the checksum before reading
//! anything, then every index (field, test, jump target, rule entry) against its table, so a
//! corrupted or foreign file is a clear error and never a panic.

use super::{Instr, Program, RuleEntry, TestDef};
use crate::eval::event::FieldTable;
use crate::ir::pred::*;

pub const MAGIC: &[u8; 8] = b"SIGCBC\r\n";
pub const FORMAT_VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 8 + 8;

pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub fn encode(p: &Program) -> Vec<u8> {
    let mut w = W(Vec::new());
    w.u32(p.fields.len() as u32);
    for i in 0..p.fields.len() as u32 {
        w.str(p.fields.name(i));
    }
    w.u32(p.tests.len() as u32);
    for t in &p.tests {
        w.u32(t.field.unwrap_or(u32::MAX));
        test(&mut w, &t.test);
    }
    w.u32(p.code.len() as u32);
    for i in &p.code {
        let (op, arg) = match *i {
            Instr::Test(t) => (0, t),
            Instr::Const(b) => (1, u32::from(b)),
            Instr::Not => (2, 0),
            Instr::JumpIfFalse(t) => (3, t),
            Instr::JumpIfTrue(t) => (4, t),
            Instr::Return => (5, 0),
        };
        w.u8(op);
        w.u32(arg);
    }
    w.u32(p.rules.len() as u32);
    for r in &p.rules {
        w.str(&r.id);
        w.str(&r.title);
        w.str(&r.level);
        w.u32(r.tags.len() as u32);
        for t in &r.tags {
            w.str(t);
        }
        w.str(&r.path);
        w.u32(r.entry);
        match &r.guards {
            None => w.u32(u32::MAX),
            Some(gs) => {
                w.u32(gs.len() as u32);
                for g in gs {
                    match &g.channel {
                        super::ChannelKey::Any => w.u8(0),
                        super::ChannelKey::Is(c) => {
                            w.u8(1);
                            w.str(c);
                        }
                        super::ChannelKey::Absent => w.u8(2),
                    }
                    match g.event_id {
                        Some(i) => {
                            w.u8(1);
                            w.0.extend_from_slice(&i.to_le_bytes());
                        }
                        None => w.u8(0),
                    }
                }
            }
        }
        match &r.anchors {
            None => w.u32(u32::MAX),
            Some(a) => {
                w.u32(a.len() as u32);
                for &t in a {
                    w.u32(t);
                }
            }
        }
    }
    let payload = w.0;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&fnv1a(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

fn test(w: &mut W, t: &Test) {
    match t {
        Test::Str(m) => {
            w.u8(0);
            w.u8(u8::from(m.anchor_start) | u8::from(m.anchor_end) << 1 | u8::from(m.cased) << 2);
            w.u32(m.pieces.len() as u32);
            for p in &m.pieces {
                match p {
                    Piece::Lit(s) => {
                        w.u8(0);
                        w.str(s);
                    }
                    Piece::AnyStr => w.u8(1),
                    Piece::AnyChar => w.u8(2),
                    Piece::Placeholder(s) => {
                        w.u8(3);
                        w.str(s);
                    }
                }
            }
        }
        Test::Regex(r) => {
            w.u8(1);
            w.str(&r.pattern);
            w.u8(u8::from(r.ignore_case) | u8::from(r.multi_line) << 1 | u8::from(r.dot_all) << 2);
        }
        Test::Num(op, n) => {
            w.u8(2);
            w.u8(num_op(*op));
            number(w, n);
        }
        Test::Bool(b) => {
            w.u8(3);
            w.u8(u8::from(*b));
        }
        Test::Null => w.u8(4),
        Test::Exists => w.u8(5),
        Test::Cidr(net) => {
            w.u8(6);
            w.str(&net.to_string());
        }
        Test::FieldRef(r) => {
            w.u8(7);
            w.str(&r.other);
            w.u8(match r.shape {
                RefShape::Equal => 0,
                RefShape::StartsWith => 1,
                RefShape::EndsWith => 2,
                RefShape::Contains => 3,
            });
            w.u8(u8::from(r.cased));
        }
        Test::TimePart(part, op, v) => {
            w.u8(8);
            w.u8(*part as u8);
            w.u8(num_op(*op));
            w.0.extend_from_slice(&v.to_le_bytes());
        }
        Test::Expression(e) => {
            w.u8(9);
            w.str(e);
        }
    }
}

fn num_op(op: NumOp) -> u8 {
    match op {
        NumOp::Eq => 0,
        NumOp::Lt => 1,
        NumOp::Lte => 2,
        NumOp::Gt => 3,
        NumOp::Gte => 4,
    }
}

fn number(w: &mut W, n: &Number) {
    w.str(&n.text);
    match n.value {
        NumValue::Int(i) => {
            w.u8(0);
            w.0.extend_from_slice(&i.to_le_bytes());
        }
        NumValue::Float(f) => {
            w.u8(1);
            w.0.extend_from_slice(&f.to_bits().to_le_bytes());
        }
    }
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Decode a bytecode file.
pub fn decode(bytes: &[u8]) -> Result<Program, String> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err("not a sigc bytecode file (bad magic bytes)".into());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| "truncated header")?);
    if version != FORMAT_VERSION {
        return Err(format!(
            "bytecode format version {version}, but this sigc reads version {FORMAT_VERSION}; recompile the rules with this sigc"
        ));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().map_err(|_| "truncated header")?);
    let sum = u64::from_le_bytes(bytes[20..28].try_into().map_err(|_| "truncated header")?);
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != len {
        return Err(format!(
            "bytecode file is truncated or padded: expected {len} payload bytes, found {}",
            payload.len()
        ));
    }
    if fnv1a(payload) != sum {
        return Err("bytecode file is corrupted (checksum mismatch)".into());
    }
    let mut r = R { b: payload, pos: 0 };
    let mut p = Program::default();
    let nfields = r.count(4)?;
    for _ in 0..nfields {
        let name = r.str()?;
        p.fields.intern(&name);
    }
    if p.fields.len() != nfields {
        return Err("corrupted bytecode: duplicate field names".into());
    }
    let ntests = r.count(5)?;
    for _ in 0..ntests {
        let f = r.u32()?;
        let field = if f == u32::MAX {
            None
        } else if (f as usize) < nfields {
            Some(f)
        } else {
            return Err("corrupted bytecode: test names an unknown field".into());
        };
        let test = read_test(&mut r, &p.fields)?;
        // Keyword tests (no field) read every value.
        p.fields.all_values |= field.is_none();
        p.tests.push(TestDef { field, test });
    }
    let ncode = r.count(5)?;
    for _ in 0..ncode {
        let op = r.u8()?;
        let arg = r.u32()?;
        let i = match op {
            0 if (arg as usize) < ntests => Instr::Test(arg),
            1 if arg <= 1 => Instr::Const(arg == 1),
            2 => Instr::Not,
            3 if (arg as usize) <= ncode => Instr::JumpIfFalse(arg),
            4 if (arg as usize) <= ncode => Instr::JumpIfTrue(arg),
            5 => Instr::Return,
            _ => return Err(format!("corrupted bytecode: bad instruction {op} {arg}")),
        };
        p.code.push(i);
    }
    let nrules = r.count(24)?;
    for _ in 0..nrules {
        let id = r.str()?;
        let title = r.str()?;
        let level = r.str()?;
        let ntags = r.count(4)?;
        let mut tags = Vec::with_capacity(ntags);
        for _ in 0..ntags {
            tags.push(r.str()?);
        }
        let path = r.str()?;
        let entry = r.u32()?;
        if entry as usize >= ncode {
            return Err("corrupted bytecode: rule entry outside the code".into());
        }
        let nguards = r.u32()?;
        let guards = if nguards == u32::MAX {
            None
        } else {
            if (nguards as usize).saturating_mul(2) > r.b.len() - r.pos {
                return Err("corrupted bytecode: a count exceeds the file".into());
            }
            let mut gs = Vec::with_capacity(nguards as usize);
            for _ in 0..nguards {
                let channel = match r.u8()? {
                    0 => super::ChannelKey::Any,
                    1 => super::ChannelKey::Is(r.str()?),
                    2 => super::ChannelKey::Absent,
                    _ => return Err("corrupted bytecode: bad routing key".into()),
                };
                let event_id = if r.u8()? == 1 { Some(r.i64()?) } else { None };
                gs.push(super::Guard { channel, event_id });
            }
            Some(gs)
        };
        let nanchors = r.u32()?;
        let anchors = if nanchors == u32::MAX {
            None
        } else {
            if (nanchors as usize).saturating_mul(4) > r.b.len() - r.pos {
                return Err("corrupted bytecode: a count exceeds the file".into());
            }
            let mut a = Vec::with_capacity(nanchors as usize);
            for _ in 0..nanchors {
                let t = r.u32()?;
                if t as usize >= ntests {
                    return Err("corrupted bytecode: anchor names an unknown test".into());
                }
                a.push(t);
            }
            Some(a)
        };
        p.rules.push(RuleEntry {
            id,
            title,
            level,
            tags,
            path,
            entry,
            guards,
            anchors,
        });
    }
    if r.pos != payload.len() {
        return Err("corrupted bytecode: trailing bytes".into());
    }
    Ok(p)
}

fn read_test(r: &mut R, fields: &FieldTable) -> Result<Test, String> {
    Ok(match r.u8()? {
        0 => {
            let flags = r.u8()?;
            let n = r.count(1)?;
            let mut pieces = Vec::with_capacity(n);
            for _ in 0..n {
                pieces.push(match r.u8()? {
                    0 => Piece::Lit(r.str()?),
                    1 => Piece::AnyStr,
                    2 => Piece::AnyChar,
                    3 => Piece::Placeholder(r.str()?),
                    t => return Err(format!("corrupted bytecode: bad piece tag {t}")),
                });
            }
            Test::Str(StrMatch::new(
                pieces,
                flags & 1 != 0,
                flags & 2 != 0,
                flags & 4 != 0,
            ))
        }
        1 => {
            let pattern = r.str()?;
            let f = r.u8()?;
            Test::Regex(RegexMatch {
                pattern,
                ignore_case: f & 1 != 0,
                multi_line: f & 2 != 0,
                dot_all: f & 4 != 0,
            })
        }
        2 => {
            let op = read_op(r)?;
            Test::Num(op, read_number(r)?)
        }
        3 => Test::Bool(r.u8()? != 0),
        4 => Test::Null,
        5 => Test::Exists,
        6 => Test::Cidr(
            r.str()?
                .parse()
                .map_err(|_| "corrupted bytecode: bad network")?,
        ),
        7 => {
            let other = r.str()?;
            if fields.get(&other).is_none() {
                return Err("corrupted bytecode: field reference to an unknown field".into());
            }
            let shape = match r.u8()? {
                0 => RefShape::Equal,
                1 => RefShape::StartsWith,
                2 => RefShape::EndsWith,
                3 => RefShape::Contains,
                _ => return Err("corrupted bytecode: bad field reference".into()),
            };
            Test::FieldRef(FieldRef {
                other,
                shape,
                cased: r.u8()? != 0,
            })
        }
        8 => {
            let part = match r.u8()? {
                0 => TimePart::Minute,
                1 => TimePart::Hour,
                2 => TimePart::Day,
                3 => TimePart::Week,
                4 => TimePart::Month,
                5 => TimePart::Year,
                _ => return Err("corrupted bytecode: bad time part".into()),
            };
            let op = read_op(r)?;
            Test::TimePart(part, op, r.i64()?)
        }
        9 => Test::Expression(r.str()?),
        t => return Err(format!("corrupted bytecode: bad test tag {t}")),
    })
}

fn read_op(r: &mut R) -> Result<NumOp, String> {
    Ok(match r.u8()? {
        0 => NumOp::Eq,
        1 => NumOp::Lt,
        2 => NumOp::Lte,
        3 => NumOp::Gt,
        4 => NumOp::Gte,
        _ => return Err("corrupted bytecode: bad comparison".into()),
    })
}

fn read_number(r: &mut R) -> Result<Number, String> {
    let text = r.str()?;
    let value = match r.u8()? {
        0 => NumValue::Int(r.i64()?),
        1 => NumValue::Float(f64::from_bits(r.i64()? as u64)),
        _ => return Err("corrupted bytecode: bad number".into()),
    };
    Ok(Number { text, value })
}

struct R<'a> {
    b: &'a [u8],
    pos: usize,
}

impl R<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or("corrupted bytecode: truncated")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| "truncated")?,
        ))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| "truncated")?,
        ))
    }
    /// A count of items at least `min_size` bytes each: bounded by what is left to read.
    fn count(&mut self, min_size: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.b.len() - self.pos {
            return Err("corrupted bytecode: a count exceeds the file".into());
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "corrupted bytecode: invalid UTF-8".into())
    }
}
