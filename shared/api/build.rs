//! Compiles `proto/` with protox (pure Rust, no system protoc) and writes the encoded
//! descriptor set that the servers register for reflection.
use std::{env, path::PathBuf};

const FILES: [&str; 6] = [
    "bigmarket/raffle/v1/raffle.proto",
    "bigmarket/admin/v1/admin.proto",
    "bigmarket/ops/v1/ops.proto",
    "bigmarket/strategy/v1/strategy.proto",
    "bigmarket/activity/v1/activity.proto",
    "bigmarket/award/v1/award.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(FILES)?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("bigmarket_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    tonic_prost_build::configure()
        .codec_path("crate::codec::BmCodec")
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
        .compile_fds(compiler.file_descriptor_set())?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
