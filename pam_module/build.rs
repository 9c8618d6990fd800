//! Link flags of pam_sparekey.so.

fn main() {
    // DF_1_NODELETE: libpam dlopens a module at every pam_start and dlcloses it at pam_end.
    // Unloading Rust code is unsound once std has registered thread-local destructors or
    // pthread keys pointing into it (rust-lang/rust#91979, #59629), and a process that
    // authenticates many times (saslauthd, dovecot's auth workers, FreeRADIUS's rlm_pam)
    // would map, relocate and unmap 3 MB each time. With this flag dlclose leaves the module
    // mapped and the next dlopen reuses it. The module keeps no state between calls.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
