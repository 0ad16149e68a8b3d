//! The front end: YAML nodes → syntax tree ([`ast`]), faithful to the source and spanned.

pub mod ast;
pub mod collection;
pub mod condition;
pub mod display;
pub mod document;
pub mod flattened;
