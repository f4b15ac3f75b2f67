//! Clinic operations: the appointment lifecycle and its history (staff actions and reporting
//! build on these).

pub mod history;
pub mod lifecycle;
