//! Hands ct2rs the prebuilt oneDNN in `ONEDNN_ROOT` (`include/dnnl.h`, `lib/libdnnl.so`) the way
//! `onednn-src` hands it the one it compiles: as `DEP_DNNL_{ROOT,INCLUDE_PATH,LIBRARY_PATH}`.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=ONEDNN_ROOT");
    let Some(root) = std::env::var_os("ONEDNN_ROOT").map(PathBuf::from) else {
        panic!(
            "the `dnnl` feature links a prebuilt oneDNN: set ONEDNN_ROOT=\"$(scripts/fetch-onednn.sh)\""
        );
    };
    let include = root.join("include");
    let lib = root.join("lib");
    if !include.join("dnnl.h").is_file() || !lib.join("libdnnl.so").is_file() {
        panic!(
            "ONEDNN_ROOT={} lacks include/dnnl.h or lib/libdnnl.so (scripts/fetch-onednn.sh makes it)",
            root.display()
        );
    }
    println!("cargo::rerun-if-changed={}", lib.join("libdnnl.so").display());
    println!("cargo::rustc-link-search=native={}", lib.display());
    // ct2rs names the library too, but only in its own link line; the binary needs it as well.
    println!("cargo::rustc-link-lib=dylib=dnnl");
    println!("cargo::metadata=ROOT={}", root.display());
    println!("cargo::metadata=INCLUDE_PATH={}", include.display());
    println!("cargo::metadata=LIBRARY_PATH={}", lib.display());
}
