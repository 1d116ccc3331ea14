//! Small pure helpers shared by the protocol and command layers.

pub mod glob;
pub mod histogram;
pub mod longdouble;
pub mod numbers;
pub mod rand;
pub mod sys;
