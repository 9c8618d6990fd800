//! sparekeyd: serves the admin socket and answers RADIUS.
fn main() {}
