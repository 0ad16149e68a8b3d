//! The driver: sigc as a library, orchestrating the stages for the commands. It loads once,
//! converts to any number of outputs in parallel, compiles the evaluator's program, evaluates,
//! runs rule tests, builds a rule repository's output tree and measures a change's impact. It
//! returns results and diagnostics and never prints: [`crate::cli`] renders them.

pub(crate) mod build;
pub(crate) mod config;
pub(crate) mod convert;
pub(crate) mod diff;
pub(crate) mod eval;
pub(crate) mod tests;
