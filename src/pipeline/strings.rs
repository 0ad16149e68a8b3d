//! pySigma's string forms, so value transformations and conditions see the text pySigma sees:
//! `str(SigmaString)` (wildcards bare, literal `*`/`?` escaped, backslashes as they are), and
//! Python's `re` replacement templates (`\1`, `\g<name>`) on top of the `regex` crate.

use regex::{Captures, Regex};

use crate::ir::pattern;
use crate::ir::pred::{Piece, StrMatch};

/// The pieces of a string match with its open ends written as `*`, as a `SigmaString` holds
/// them. Keywords are matched anywhere by the IR, but pySigma keeps them as written, so their
/// open ends are not spelled out.
pub(crate) fn sigma_pieces(m: &StrMatch, keyword: bool) -> Vec<Piece> {
    let mut out = Vec::with_capacity(m.pieces.len() + 2);
    if !m.anchor_start && !keyword {
        out.push(Piece::AnyStr);
    }
    out.extend(m.pieces.iter().cloned());
    if !m.anchor_end && !keyword && out.last() != Some(&Piece::AnyStr) {
        out.push(Piece::AnyStr);
    }
    out
}

/// The inverse of [`sigma_pieces`].
pub(crate) fn from_pieces(pieces: Vec<Piece>, cased: bool, keyword: bool) -> StrMatch {
    if keyword {
        StrMatch::new(pieces, false, false, cased)
    } else {
        StrMatch::new(pieces, true, true, cased)
    }
}

/// `str(SigmaString)` in pySigma: `*`/`?` for wildcards, `\*`/`\?` for those characters
/// written literally, `%name%` for placeholders; backslashes are not escaped.
pub(crate) fn plain(pieces: &[Piece]) -> String {
    render(pieces).text
}

/// The plain form of some pieces, remembering which piece each stretch of text came from.
struct Rendered {
    text: String,
    /// `(start, end, piece)`: byte range in `text` and the one-character (or placeholder)
    /// piece it stands for.
    atoms: Vec<(usize, usize, Piece)>,
}

fn render(pieces: &[Piece]) -> Rendered {
    let mut text = String::new();
    let mut atoms = Vec::new();
    for p in pieces {
        let start = text.len();
        match p {
            Piece::Lit(l) => {
                for c in l.chars() {
                    let start = text.len();
                    if matches!(c, '*' | '?') {
                        text.push('\\');
                    }
                    text.push(c);
                    atoms.push((start, text.len(), Piece::Lit(c.to_string())));
                }
                continue;
            }
            Piece::AnyStr => text.push('*'),
            Piece::AnyChar => text.push('?'),
            Piece::Placeholder(n) => {
                text.push('%');
                text.push_str(n);
                text.push('%');
            }
        }
        atoms.push((start, text.len(), p.clone()));
    }
    Rendered { text, atoms }
}

impl Rendered {
    /// The pieces behind `text[from..to]`. A piece cut by the range (half of `\*` or of
    /// `%name%`) is read back from its text, as pySigma would.
    fn pieces(&self, from: usize, to: usize, placeholders: bool, out: &mut Vec<Piece>) {
        for (start, end, piece) in &self.atoms {
            if *end <= from || *start >= to {
                continue;
            }
            if *start >= from && *end <= to {
                out.push(piece.clone());
            } else {
                let (a, b) = ((*start).max(from), (*end).min(to));
                out.extend(parse(&protect_backslashes(&self.text[a..b]), placeholders));
            }
        }
    }
}

/// pySigma's `replace_string` without `skip_special`: the regex runs over the plain form and
/// the result is read back as a Sigma string. Text the regex did not touch keeps its exact
/// meaning; pySigma re-parses it too, which turns a backslash before a wildcard
/// (`contains: '\Temp\'`) into an escaped, literal `*`.
pub(crate) fn replace(pieces: &[Piece], re: &Regex, repl: &Replacement) -> Vec<Piece> {
    let placeholders = pieces.iter().any(|p| matches!(p, Piece::Placeholder(_)));
    let r = render(pieces);
    let mut out = Vec::new();
    let mut last = 0;
    for caps in re.captures_iter(&r.text) {
        let Some(m) = caps.get(0) else { continue };
        r.pieces(last, m.start(), placeholders, &mut out);
        let inserted = repl.expand(&caps);
        out.extend(parse(&protect_backslashes(&inserted), placeholders));
        last = m.end();
    }
    r.pieces(last, r.text.len(), placeholders, &mut out);
    out
}

/// `SigmaString(text)`: wildcards and escapes interpreted (placeholders too when asked, as
/// pySigma's `insert_placeholders` does).
pub(crate) fn parse(text: &str, placeholders: bool) -> Vec<Piece> {
    pattern::parse(text, placeholders)
}

/// Before re-reading replaced text, pySigma doubles every backslash that does not escape a
/// wildcard, so that the backslashes stay literal.
fn protect_backslashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\\' && !matches!(chars.peek(), Some('*' | '?')) {
            out.push('\\');
        }
    }
    out
}

/// Compile a Python `re` pattern. The syntax both share covers what pipelines use; what the
/// `regex` crate lacks (look-around, backreferences) is an error naming the pattern.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or("").trim();
        let last = last.strip_prefix("error: ").unwrap_or(last);
        format!("invalid regular expression `{pattern}`: {last}")
    })
}

/// Python's `re.match`: the match must begin at the start of the text (not end there).
pub(crate) fn compile_match(pattern: &str) -> Result<Regex, String> {
    compile(pattern)?;
    compile(&format!(r"\A(?:{pattern})"))
}

/// A Python `re.sub` replacement template, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Replacement {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Group(usize),
    Named(String),
}

impl Replacement {
    /// Parse `template` for `re` (group references are checked against it).
    pub(crate) fn parse(template: &str, re: &Regex) -> Result<Replacement, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = template.chars().peekable();
        let groups = re.captures_len();
        let check = |n: usize| {
            if n < groups {
                Ok(n)
            } else {
                Err(format!("invalid group reference {n} in the replacement"))
            }
        };
        while let Some(c) = chars.next() {
            if c != '\\' {
                lit.push(c);
                continue;
            }
            let Some(n) = chars.next() else {
                return Err("the replacement ends with a lone backslash".into());
            };
            let mut group = None;
            match n {
                'g' => {
                    if chars.next() != Some('<') {
                        return Err("`\\g` must be followed by `<name>`".into());
                    }
                    let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                    if name.is_empty() {
                        return Err("empty group name in `\\g<>`".into());
                    }
                    match name.parse::<usize>() {
                        Ok(i) => group = Some(Part::Group(check(i)?)),
                        Err(_) if re.capture_names().any(|c| c == Some(name.as_str())) => {
                            group = Some(Part::Named(name))
                        }
                        Err(_) => return Err(format!("unknown group name `{name}`")),
                    }
                }
                '0'..='9' => {
                    let mut digits = String::from(n);
                    while digits.len() < 3 && chars.peek().is_some_and(char::is_ascii_digit) {
                        digits.extend(chars.next());
                    }
                    let octal =
                        digits.len() == 3 && digits.chars().all(|c| ('0'..='7').contains(&c));
                    if n == '0' || octal {
                        let (oct, rest) = if octal {
                            (digits.as_str(), "")
                        } else {
                            let end = digits
                                .char_indices()
                                .find(|(_, c)| !('0'..='7').contains(c))
                                .map_or(digits.len(), |(i, _)| i);
                            digits.split_at(end)
                        };
                        let code = u32::from_str_radix(oct, 8).unwrap_or(0);
                        lit.extend(char::from_u32(code));
                        lit.push_str(rest);
                    } else {
                        // Python reads at most two digits as a group number.
                        let (num, rest) = digits.split_at(digits.len().min(2));
                        let i = num.parse::<usize>().unwrap_or(usize::MAX);
                        group = Some(Part::Group(check(i)?));
                        if !rest.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                            if let Some(g) = group.take() {
                                parts.push(g);
                            }
                            lit.push_str(rest);
                        }
                    }
                }
                'n' => lit.push('\n'),
                't' => lit.push('\t'),
                'r' => lit.push('\r'),
                'f' => lit.push('\x0c'),
                'v' => lit.push('\x0b'),
                'a' => lit.push('\x07'),
                'b' => lit.push('\x08'),
                '\\' => lit.push('\\'),
                c if c.is_ascii_alphabetic() => {
                    return Err(format!("bad escape `\\{c}` in the replacement"));
                }
                c => {
                    lit.push('\\');
                    lit.push(c);
                }
            }
            if let Some(g) = group {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(g);
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Replacement { parts })
    }

    /// The text that replaces one match.
    pub(crate) fn expand(&self, caps: &Captures) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                // An unmatched group is the empty string (Python 3.5+).
                Part::Group(i) => out.push_str(caps.get(*i).map_or("", |m| m.as_str())),
                Part::Named(n) => out.push_str(caps.name(n).map_or("", |m| m.as_str())),
            }
        }
        out
    }

    /// `re.sub(pattern, template, text)` on plain text.
    pub(crate) fn replace_all(&self, re: &Regex, text: &str) -> String {
        re.replace_all(text, |caps: &Captures| self.expand(caps))
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(pattern: &str, template: &str, text: &str) -> String {
        let re = compile(pattern).unwrap();
        Replacement::parse(template, &re)
            .unwrap()
            .replace_all(&re, text)
    }

    #[test]
    fn python_templates() {
        assert_eq!(sub(r"(\w+)@(\w+)", r"\2 at \1", "me@host"), "host at me");
        assert_eq!(sub(r"(?P<u>\w+)@", r"<\g<u>>", "me@host"), "<me>host");
        assert_eq!(sub(r"(a)", r"\g<1>0", "a"), "a0");
        assert_eq!(sub(r"a", r"\n", "a"), "\n");
        assert_eq!(sub(r"a", r"\\", "a"), "\\");
        assert_eq!(sub(r"a", r"\*", "a"), "\\*");
        assert_eq!(sub(r"a", "$1", "a"), "$1", "`$` is not special in Python");
        assert_eq!(sub(r"(a)|b", r"[\1]", "b"), "[]");
    }

    #[test]
    fn bad_templates_are_errors() {
        let re = compile("(a)").unwrap();
        assert!(Replacement::parse(r"\2", &re).is_err());
        assert!(Replacement::parse(r"\q", &re).is_err());
        assert!(Replacement::parse(r"\g<x>", &re).is_err());
        assert!(Replacement::parse("x\\", &re).is_err());
    }

    #[test]
    fn plain_form_matches_pysigma() {
        let m = StrMatch::new(parse(r"C:\Windows\*\a?b", false), true, true, false);
        // `\*` after a backslash is a literal star (spec escaping); `?` is a wildcard.
        assert_eq!(plain(&sigma_pieces(&m, false)), r"C:\Windows\*\a?b");
        let contains = StrMatch::new(vec![Piece::Lit("x".into())], false, false, false);
        assert_eq!(plain(&sigma_pieces(&contains, false)), "*x*");
        assert_eq!(plain(&sigma_pieces(&contains, true)), "x");
    }

    fn replaced(text: &str, pattern: &str, template: &str) -> Vec<Piece> {
        let re = compile(pattern).unwrap();
        let repl = Replacement::parse(template, &re).unwrap();
        let m = StrMatch::new(parse(text, false), true, true, false);
        StrMatch::new(
            replace(&sigma_pieces(&m, false), &re, &repl),
            true,
            true,
            false,
        )
        .pieces
    }

    #[test]
    fn untouched_text_keeps_its_meaning() {
        for text in [
            r"C:\Windows\x",
            r"a\*",
            r"a\\*",
            "*x*",
            r"\\srv\share",
            r"*\Temp\\*",
        ] {
            let m = StrMatch::new(parse(text, false), true, true, false);
            assert_eq!(replaced(text, "nomatch", "y"), m.pieces, "{text}");
        }
    }

    #[test]
    fn replaced_text_is_read_as_a_sigma_string() {
        assert_eq!(
            replaced(r"C:\Windows\x", r"^C:", r"%SystemDrive%"),
            vec![Piece::Lit(r"%SystemDrive%\Windows\x".into())]
        );
        assert_eq!(
            replaced("abc", "b", "*"),
            vec![
                Piece::Lit("a".into()),
                Piece::AnyStr,
                Piece::Lit("c".into())
            ]
        );
        assert_eq!(replaced(r"a\b", r"\\", "/"), vec![Piece::Lit("a/b".into())]);
    }

    #[test]
    fn match_is_anchored_at_the_start_only() {
        let re = compile_match("ab|c").unwrap();
        assert!(re.is_match("abz"));
        assert!(re.is_match("cz"));
        assert!(!re.is_match("zab"));
    }
}
