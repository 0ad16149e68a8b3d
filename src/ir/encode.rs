//! Value expansions that modifiers ask for: `windash` alternatives, UTF-16 re-encoding, and
//! base64 with its three offsets. Each returns the alternatives the value may appear as; the
//! caller ORs them.
//!
//! Byte strings (after a UTF-16 modifier) are carried as one `char` per byte (U+0000–U+00FF),
//! which keeps them in ordinary [`Piece::Lit`]s until base64 turns them back into bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::pred::Piece;

/// The characters `windash` substitutes for a flag's leading `-` or `/`.
pub const WINDASH_CHARS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Most dash positions one value may have under `windash` (5^6 = 15,625 alternatives).
pub const MAX_WINDASH_POSITIONS: usize = 6;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every variant of `pieces` with each flag dash replaced by each of [`WINDASH_CHARS`].
///
/// A flag dash is a `-` or `/` that starts a word after a non-word character (the regex
/// `\B[-/]\b`, as pySigma defines it), looked at within each literal run: `-param-name` varies
/// only its first dash. All combinations are produced. `None` when there are too many positions.
pub fn windash(pieces: &[Piece]) -> Option<Vec<Vec<Piece>>> {
    // (piece index, char index) of each flag dash.
    let mut positions = Vec::new();
    for (pi, p) in pieces.iter().enumerate() {
        if let Piece::Lit(s) = p {
            let chars: Vec<char> = s.chars().collect();
            for (ci, &c) in chars.iter().enumerate() {
                let before_is_word = ci > 0 && is_word(chars[ci - 1]);
                let after_is_word = chars.get(ci + 1).is_some_and(|&n| is_word(n));
                if (c == '-' || c == '/') && !before_is_word && after_is_word {
                    positions.push((pi, ci));
                }
            }
        }
    }
    if positions.len() > MAX_WINDASH_POSITIONS {
        return None;
    }
    let total = WINDASH_CHARS.len().pow(positions.len() as u32);
    let mut out = Vec::with_capacity(total);
    for n in 0..total {
        let mut variant: Vec<Piece> = pieces.to_vec();
        let mut k = n;
        for &(pi, ci) in &positions {
            let dash = WINDASH_CHARS[k % WINDASH_CHARS.len()];
            k /= WINDASH_CHARS.len();
            if let Piece::Lit(s) = &mut variant[pi] {
                *s = s
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i == ci { dash } else { c })
                    .collect();
            }
        }
        out.push(variant);
    }
    Some(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf16 {
    Le,
    Be,
    /// Little-endian with a byte-order mark.
    LeBom,
}

/// Re-encode the literal runs as UTF-16 bytes (one char per byte).
pub fn utf16(pieces: &[Piece], enc: Utf16) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len() + 1);
    if enc == Utf16::LeBom {
        out.push(Piece::Lit("\u{FF}\u{FE}".into()));
    }
    for p in pieces {
        match p {
            Piece::Lit(s) => {
                let mut bytes = String::with_capacity(s.len() * 2);
                for unit in s.encode_utf16() {
                    let [a, b] = match enc {
                        Utf16::Be => unit.to_be_bytes(),
                        Utf16::Le | Utf16::LeBom => unit.to_le_bytes(),
                    };
                    bytes.push(char::from(a));
                    bytes.push(char::from(b));
                }
                out.push(Piece::Lit(bytes));
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// The bytes a plain value stands for: one byte per char after UTF-16, else UTF-8.
pub fn bytes_of(text: &str, is_bytes: bool) -> Vec<u8> {
    if is_bytes {
        text.chars().map(|c| c as u32 as u8).collect()
    } else {
        text.as_bytes().to_vec()
    }
}

pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The three forms `bytes` takes inside a longer base64 text, one per alignment, trimmed of the
/// characters that depend on the unknown neighbouring bytes (pySigma's `base64offset`).
pub fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    // How many trailing characters to drop, by (len + shift) % 3.
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|shift| {
            let mut padded = vec![b' '; shift];
            padded.extend_from_slice(bytes);
            let enc = STANDARD.encode(&padded);
            let end = enc
                .len()
                .saturating_sub(END_TRIM[(bytes.len() + shift) % 3]);
            enc.get(START[shift]..end.max(START[shift]))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64offset_matches_pysigma() {
        // Values from pySigma's test suite for `base64offset` of "foobar".
        assert_eq!(
            base64_offsets(b"foobar"),
            vec!["Zm9vYmFy", "Zvb2Jhc", "mb29iYX"]
        );
    }

    #[test]
    fn windash_varies_only_flag_dashes() {
        let v = windash(&[Piece::Lit(" -param-name".into())]).unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v[1], vec![Piece::Lit(" /param-name".into())]);
        let v = windash(&[Piece::Lit("-a /b".into())]).unwrap();
        assert_eq!(v.len(), 25);
        assert!(windash(&[Piece::Lit("a-b".into())]).unwrap().len() == 1);
    }

    #[test]
    fn utf16_variants() {
        let p = [Piece::Lit("ab".into())];
        assert_eq!(utf16(&p, Utf16::Le), vec![Piece::Lit("a\0b\0".into())]);
        assert_eq!(utf16(&p, Utf16::Be), vec![Piece::Lit("\0a\0b".into())]);
        assert_eq!(
            utf16(&p, Utf16::LeBom),
            vec![
                Piece::Lit("\u{FF}\u{FE}".into()),
                Piece::Lit("a\0b\0".into())
            ]
        );
        assert_eq!(base64(&bytes_of("a\0", true)), "YQA=");
    }
}
