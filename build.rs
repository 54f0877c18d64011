//! With the `neural` feature on Linux, link libtorch.so itself (not only the libtorch_cpu symbols
//! the crate references), so that libtorch_cuda is loaded and registers its kernels: without
//! this the linker's --as-needed drops it and CUDA is "not available" on a GPU machine
//! (tch-rs's documented workaround, tch-rs issue #980).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let neural = std::env::var_os("CARGO_FEATURE_NEURAL").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if neural && linux {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}
