//! Integration tests live beside this crate root, in `tests/`.
