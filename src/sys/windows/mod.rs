//! The Windows backend (P-1, P-2).
