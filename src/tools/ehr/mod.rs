//! EHR adapters. The built-in store (the embedded default) lives in the project database; a FHIR
//! R4 adapter for production comes with the scheduling work.

pub mod builtin;
