//! RADIUS codec.
