//! Shared helpers for whole-model tests.
