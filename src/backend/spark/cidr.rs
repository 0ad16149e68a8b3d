//! `cidr` in plain Spark SQL (no Databricks functions), read as the evaluator reads it: the
//! value, trimmed of white space, parsed as an IP address of the network's family (Rust's
//! parser: dotted quads without leading zeros; IPv6 text with at most one `::` and an optional
//! dotted-quad tail) and tested for membership.
//!
//! - IPv4: one anchored `RLIKE` pattern. Octets under the prefix are fixed numbers, the octet
//!   the prefix cuts is the alternation of the numbers in its range, the rest any octet.
//! - IPv6: the text is checked for shape, expanded in SQL (lambdas over one-item arrays bind
//!   the intermediate values) to its 32 lowercase hex digits
//!   (a dotted-quad tail turned into two groups, `::` filled with zeros), and compared as a
//!   string with the network's first and last address: fixed-width hex compares as numbers do.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::expr::string;

/// A decimal octet as Rust's parser accepts it.
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";

pub(crate) fn test(text: &str, net: &IpNet) -> String {
    match net {
        IpNet::V4(n) => v4(text, n),
        IpNet::V6(n) => v6(text, n),
    }
}

fn v4(text: &str, net: &Ipv4Net) -> String {
    let octets = net.network().octets();
    let prefix = u32::from(net.prefix_len());
    let mut parts = Vec::with_capacity(4);
    for (k, &o) in octets.iter().enumerate() {
        let fixed = prefix.saturating_sub(8 * k as u32).min(8);
        parts.push(match fixed {
            8 => o.to_string(),
            0 => OCTET.to_string(),
            bits => {
                let span = 1u32 << (8 - bits);
                let lo = u32::from(o) & !(span - 1);
                let all: Vec<String> = (lo..lo + span).map(|n| n.to_string()).collect();
                format!("(?:{})", all.join("|"))
            }
        });
    }
    let re = format!(r"^(?U)\s*{}\s*\z", parts.join(r"\."));
    format!("{text} RLIKE {}", string(&re))
}

fn v6(text: &str, net: &Ipv6Net) -> String {
    let hex = |a: std::net::Ipv6Addr| format!("{:032x}", u128::from(a));
    let (lo, hi) = (hex(net.network()), hex(net.broadcast()));
    let trimmed = format!(
        "lower(regexp_extract({text}, {}, 1))",
        string(r"^(?U)\s*(\S*)\s*\z")
    );
    // The text Rust's parser accepts, group counts aside: groups of 1-4 hex digits, at most
    // one `::`, an optional dotted-quad tail. Counts are checked after expansion.
    let h = "[0-9a-f]{1,4}";
    let q = format!(r"{OCTET}(?:\.{OCTET}){{3}}");
    let shape =
        format!(r"^(?:(?:{h}:)+(?:{h}|{q})|(?:{h}(?::{h})*)?::(?:(?:{h}:)*(?:{h}|{q}))?)\z");
    // A dotted-quad tail (its octets already checked by `shape`) as two hex groups.
    let hex2 = |k: usize| format!("lpad(conv(try_element_at(sigc_o, {k}), 10, 16), 2, '0')");
    let tail = format!(
        "concat(regexp_extract(sigc_t, {}, 1), {}, {}, ':', {}, {})",
        string(r"^(.*:)[0-9.]+\z"),
        hex2(1),
        hex2(2),
        hex2(3),
        hex2(4)
    );
    let octets = format!(
        "split(regexp_extract(sigc_t, {}, 1), '[.]')",
        string(r"([0-9.]+)\z")
    );
    let groups = format!(
        "CASE WHEN sigc_t LIKE '%.%' THEN {} ELSE sigc_t END",
        let_in(&octets, "sigc_o", &tail)
    );
    // The hex digits of the groups before (1) and after (2) a `::`, each group padded to 4.
    let side = |i: usize| {
        format!(
            "concat_ws('', transform(filter(split(coalesce(try_element_at(split(sigc_g, '::'), {i}), ''), ':'), x -> x != ''), x -> lpad(x, 4, '0')))"
        )
    };
    // Before, the zeros `::` stands for (one group at least), after.
    let expanded = let_in(
        &format!("array({}, {})", side(1), side(2)),
        "sigc_s",
        "CASE WHEN size(split(sigc_g, '::')) = 2 AND length(sigc_s[0]) + length(sigc_s[1]) < 32 \
         THEN concat(sigc_s[0], repeat('0', 32 - length(sigc_s[0]) - length(sigc_s[1])), sigc_s[1]) \
         WHEN size(split(sigc_g, '::')) = 1 THEN sigc_s[0] END",
    );
    let test = format!("coalesce(length(sigc_x) = 32 AND sigc_x BETWEEN '{lo}' AND '{hi}', false)");
    let body = format!(
        "sigc_t RLIKE {} AND {}",
        string(&shape),
        let_in(&groups, "sigc_g", &let_in(&expanded, "sigc_x", &test))
    );
    format!("coalesce({}, false)", let_in(&trimmed, "sigc_t", &body))
}

/// `body` with `var` bound to `value`: Spark SQL has no `let`, but a lambda over a one-item
/// array is one.
fn let_in(value: &str, var: &str, body: &str) -> String {
    format!("element_at(transform(array({value}), {var} -> {body}), 1)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 pattern, run by the `regex` crate (the subset it uses reads the same in Java),
    /// holds exactly for the addresses inside the network, as Rust's parser reads them.
    #[test]
    fn v4_patterns_match_the_network() {
        for net in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.1.128/25",
            "0.0.0.0/0",
            "1.2.3.4/32",
        ] {
            let net: Ipv4Net = net.parse().unwrap();
            let sql = v4("c", &net);
            let lit = sql
                .strip_prefix("c RLIKE '")
                .unwrap()
                .strip_suffix('\'')
                .unwrap();
            let re = regex::Regex::new(&lit.replace("\\\\", "\\").replace("(?U)", "")).unwrap();
            for text in [
                "10.1.2.3",
                "10.255.255.255",
                "11.0.0.1",
                "172.16.0.1",
                "172.31.255.255",
                "172.32.0.0",
                "192.168.1.128",
                "192.168.1.127",
                "192.168.1.255",
                "1.2.3.4",
                " 1.2.3.4 ",
                "010.1.2.3",
                "1.2.3",
                "256.1.1.1",
                "1.2.3.4.5",
            ] {
                let inside = text
                    .trim()
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|a| net.contains(&a));
                assert_eq!(re.is_match(text), inside, "{net} {text:?}");
            }
        }
    }
}
