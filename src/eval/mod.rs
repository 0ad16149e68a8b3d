//! The evaluator: runs compiled rules over real events. It is sigc's reference meaning; every
//! backend is checked against what it selects.
//!
//! - [`event`]: the event model (values by field id, one reusable arena).
//! - [`json`]: JSON lines → events, in one pass.
//! - [`matcher`]: what each IR test means on an event.
//! - [`vm`]: runs a rule's bytecode.
//! - [`correlate`]: correlation rules over the matches, on event time.

pub mod anchor;
pub mod correlate;
pub mod engine;
pub mod event;
pub mod input;
pub mod json;
pub mod matcher;
pub mod prefilter;
pub mod vm;
