//! The intermediate representation: what a rule means, with every modifier compiled away.
//!
//! - [`pred`]: the leaves (one test on one field) and their exact string, number, null and
//!   network semantics.
//! - [`expr`]: the boolean structure, normal by construction.
//! - [`rule`]: lowered rules, correlations and filters.
//! - [`lower`]: syntax tree → IR; [`pattern`] and [`encode`] are its string helpers.
//! - [`display`]: the stable text form printed by `sigc debug ir`.

pub mod correlation;
pub mod display;
pub mod encode;
pub mod expr;
pub mod lower;
pub mod pattern;
pub mod pred;
pub mod rule;

pub use expr::Expr;
pub use pred::{Piece, Pred, StrMatch, Test};
