//! The big-market gRPC contract (`proto/`), generated with protox + tonic-prost-build.
//!
//! Features: `client` (tonic clients) and `server` (service traits), both on by default.
//! Another Rust service that only calls big-market depends on
//! `bm-api = { default-features = false, features = ["client"] }`.

pub mod codec;

/// Generated code carries no docs of its own beyond the proto comments.
#[allow(clippy::all, clippy::pedantic, missing_debug_implementations, reason = "generated code")]
pub mod bigmarket {
    /// `bigmarket.raffle.v1`: the user-facing orchestrator API.
    pub mod raffle {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("bigmarket.raffle.v1");
        }
    }
    /// `bigmarket.admin.v1`: the operators' console on the orchestrator's port.
    pub mod admin {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("bigmarket.admin.v1");
        }
    }
    /// `bigmarket.ops.v1`: the operators' calls every stateful service serves.
    pub mod ops {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("bigmarket.ops.v1");
        }
    }
    /// `bigmarket.strategy.v1`: strategy-draw.
    pub mod strategy {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("bigmarket.strategy.v1");
        }
    }
    /// `bigmarket.activity.v1`: activity-quota.
    pub mod activity {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("bigmarket.activity.v1");
        }
    }
    /// `bigmarket.award.v1`: award records and distribution.
    pub mod award {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("bigmarket.award.v1");
        }
    }
}

pub use bigmarket::{
    activity::v1 as activity, admin::v1 as admin, award::v1 as award, ops::v1 as ops, raffle::v1 as raffle,
    strategy::v1 as strategy,
};

/// The encoded `FileDescriptorSet` of every big-market proto (with imports), for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("bigmarket_descriptor");
