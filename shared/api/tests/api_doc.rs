//! docs/api.md is the API reference rendered from the protos' comments (issue #11). This
//! test renders it from the compiled descriptor set and fails when the committed file is
//! stale; `BM_UPDATE_API_DOC=1 cargo test -p bm-api --test api_doc` rewrites it.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::fmt::Write as _;

use prost::Message as _;
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet, SourceCodeInfo,
    field_descriptor_proto::{Label, Type},
};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");

/// The comment attached to the element at `path` (descriptor field numbers and indexes).
fn comment(info: Option<&SourceCodeInfo>, path: &[i32]) -> String {
    info.and_then(|info| info.location.iter().find(|l| l.path == path))
        .and_then(|l| l.leading_comments.clone())
        .map(|c| c.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn type_name(field: &FieldDescriptorProto) -> String {
    let base = match field.r#type() {
        Type::Message | Type::Enum => field.type_name().trim_start_matches('.').to_owned(),
        Type::Double => "double".into(),
        Type::Float => "float".into(),
        Type::Int64 => "int64".into(),
        Type::Uint64 => "uint64".into(),
        Type::Int32 => "int32".into(),
        Type::Fixed64 => "fixed64".into(),
        Type::Fixed32 => "fixed32".into(),
        Type::Bool => "bool".into(),
        Type::String => "string".into(),
        Type::Group => "group".into(),
        Type::Bytes => "bytes".into(),
        Type::Uint32 => "uint32".into(),
        Type::Sfixed32 => "sfixed32".into(),
        Type::Sfixed64 => "sfixed64".into(),
        Type::Sint32 => "sint32".into(),
        Type::Sint64 => "sint64".into(),
    };
    if field.label() == Label::Repeated {
        format!("repeated {base}")
    } else if field.proto3_optional() {
        format!("optional {base}")
    } else {
        base
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn message(out: &mut String, file: &FileDescriptorProto, message: &DescriptorProto, path: &[i32], prefix: &str) {
    let info = file.source_code_info.as_ref();
    let name = format!("{prefix}{}", message.name());
    let _ = writeln!(out, "#### `{name}`\n\n{}\n", comment(info, path));
    if message.field.is_empty() {
        out.push_str("No fields.\n\n");
    } else {
        out.push_str("| # | field | type | description |\n|---:|---|---|---|\n");
        for (i, field) in message.field.iter().enumerate() {
            let mut field_path = path.to_vec();
            field_path.extend([2, i32::try_from(i).unwrap()]);
            let _ = writeln!(
                out,
                "| {} | `{}` | `{}` | {} |",
                field.number(),
                field.name(),
                type_name(field),
                cell(&comment(info, &field_path))
            );
        }
        out.push('\n');
    }
    let nested = message.nested_type.iter().enumerate();
    for (i, nested) in nested.filter(|(_, n)| !n.options.as_ref().is_some_and(|o| o.map_entry())) {
        let mut nested_path = path.to_vec();
        nested_path.extend([3, i32::try_from(i).unwrap()]);
        self::message(out, file, nested, &nested_path, &format!("{name}."));
    }
}

fn render() -> String {
    let set = FileDescriptorSet::decode(bm_api::FILE_DESCRIPTOR_SET).unwrap();
    let mut out = String::from(
        "# API reference\n\n\
         Rendered from the comments in `proto/` by `shared/api/tests/api_doc.rs` — do not edit by\n\
         hand: `BM_UPDATE_API_DOC=1 cargo test -p bm-api --test api_doc` rewrites it, and `make test`\n\
         fails when it is stale. Errors (gRPC code + big-market code) are in ARCHITECTURE.md §3 and\n\
         docs/grpcurl.md; how to call the API from Rust or generate stubs for other languages is in\n\
         [docs/clients.md](clients.md).\n\n",
    );
    let files: Vec<&FileDescriptorProto> = set.file.iter().filter(|f| f.package().starts_with("bigmarket.")).collect();
    for file in &files {
        let _ =
            writeln!(out, "- [`{}`](#{}) — `proto/{}`", file.package(), file.package().replace('.', ""), file.name());
    }
    out.push('\n');
    for file in files {
        let info = file.source_code_info.as_ref();
        let _ = writeln!(out, "## {}\n", file.package());
        let package_comment = comment(info, &[2]);
        if !package_comment.is_empty() {
            let _ = writeln!(out, "{package_comment}\n");
        }
        for (s, service) in file.service.iter().enumerate() {
            let s = i32::try_from(s).unwrap();
            let _ =
                writeln!(out, "### service `{}.{}`\n\n{}\n", file.package(), service.name(), comment(info, &[6, s]));
            out.push_str("| method | request → response | description |\n|---|---|---|\n");
            for (m, method) in service.method.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` → `{}` | {} |",
                    method.name(),
                    method.input_type().rsplit('.').next().unwrap_or_default(),
                    method.output_type().rsplit('.').next().unwrap_or_default(),
                    cell(&comment(info, &[6, s, 2, i32::try_from(m).unwrap()]))
                );
            }
            out.push('\n');
        }
        out.push_str("### messages\n\n");
        for (i, msg) in file.message_type.iter().enumerate() {
            message(&mut out, file, msg, &[4, i32::try_from(i).unwrap()], "");
        }
        for (i, e) in file.enum_type.iter().enumerate() {
            let _ = writeln!(out, "#### enum `{}`\n\n{}\n", e.name(), comment(info, &[5, i32::try_from(i).unwrap()]));
            for value in &e.value {
                let _ = writeln!(out, "- `{}` = {}", value.name(), value.number());
            }
            out.push('\n');
        }
    }
    out.trim_end().to_owned() + "\n"
}

#[test]
fn docs_api_md_is_the_rendered_reference() {
    let rendered = render();
    if std::env::var_os("BM_UPDATE_API_DOC").is_some() {
        std::fs::write(DOC, &rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(DOC).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/api.md is stale: run `BM_UPDATE_API_DOC=1 cargo test -p bm-api --test api_doc` and commit it"
    );
}

#[test]
fn every_service_method_message_and_field_is_documented() {
    let set = FileDescriptorSet::decode(bm_api::FILE_DESCRIPTOR_SET).unwrap();
    let mut missing = Vec::new();
    for file in set.file.iter().filter(|f| f.package().starts_with("bigmarket.")) {
        let info = file.source_code_info.as_ref();
        for (s, service) in file.service.iter().enumerate() {
            let s = i32::try_from(s).unwrap();
            for (m, method) in service.method.iter().enumerate() {
                if comment(info, &[6, s, 2, i32::try_from(m).unwrap()]).is_empty() {
                    missing.push(format!("{}.{}", service.name(), method.name()));
                }
            }
        }
        for (i, msg) in file.message_type.iter().enumerate() {
            let i = i32::try_from(i).unwrap();
            if comment(info, &[4, i]).is_empty() {
                missing.push(msg.name().to_owned());
            }
            for (f, field) in msg.field.iter().enumerate() {
                if comment(info, &[4, i, 2, i32::try_from(f).unwrap()]).is_empty() {
                    missing.push(format!("{}.{}", msg.name(), field.name()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}
