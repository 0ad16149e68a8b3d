//! sigc: a Sigma rule compiler.
//!
//! The flow, one module per stage:
//! 1. [`load`] reads files and folders; [`yaml`] turns text into spanned nodes.
//! 2. [`syntax`] builds the syntax tree (documents, detections, conditions), faithful to the
//!    source.
//! 3. [`ir`] lowers it to the IR, where every modifier is compiled away and correlation
//!    references and meta filters are resolved.
//! 4. [`pipeline`] applies processing pipelines (pySigma's YAML format) to the IR.
//! 5. Backends turn the IR into queries (later issues); [`cli`] wires it all to commands.
//!
//! [`diagnostic`] is the one error type every stage reports with. Modules are public for the
//! test suite, benches and fuzz targets; they are not a stable library API.

pub(crate) mod backend;
pub mod bytecode;
pub(crate) mod check;
pub mod cli;
pub mod diagnostic;
pub(crate) mod driver;
pub mod eval;
pub mod ir;
pub mod load;
pub mod pipeline;
pub mod source;
pub mod syntax;
pub mod yaml;
