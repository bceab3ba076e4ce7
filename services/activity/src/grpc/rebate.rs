//! The rebate RPCs' edge: request validation, RebateError on the wire, orders to proto.

use bm_api::activity as pb;
use bm_kernel::{BusinessNo, UserId};
use bm_status::{ErrorCode, invalid_argument, to_status};
use tonic::Status;

use crate::{
    domain::rebate::{BehaviorType, MAX_REBATE_KEY_LEN, biz_id_fits},
    storage::RebateOrder,
    usecase::RebateError,
};

impl From<RebateError> for Status {
    fn from(error: RebateError) -> Self {
        match error {
            RebateError::NoOpenRebate(_) => to_status(ErrorCode::NotFound, error.to_string()),
            RebateError::Duplicate { .. } => to_status(ErrorCode::IndexDup, error.to_string()),
            RebateError::Activity(error) => error.into(),
            RebateError::Corrupt(_) => bm_status::internal(&error),
        }
    }
}

/// A valid CreateRebate: blank or over-long fields are `0002`; an unknown behaviour is
/// `NOT_FOUND` (it has no rebate).
pub(super) fn create_request(request: pb::CreateRebateRequest) -> Result<(UserId, BehaviorType, BusinessNo), Status> {
    let user_id = user(request.user_id)?;
    if request.behavior_type.trim().is_empty() {
        return Err(invalid_argument("behavior_type", "must not be empty"));
    }
    let out_business_no =
        BusinessNo::parse(request.out_business_no).map_err(|e| invalid_argument("out_business_no", e))?;
    if out_business_no.as_str().trim().is_empty() {
        return Err(invalid_argument("out_business_no", "must not be blank"));
    }
    if !biz_id_fits(user_id.as_str(), out_business_no.as_str()) {
        return Err(invalid_argument(
            "out_business_no",
            format!(
                "user_id and out_business_no together must be at most {MAX_REBATE_KEY_LEN} characters \
                 (the rebate's biz_id <user_id>_<rebate_type>_<out_business_no> is a 64-character business number)"
            ),
        ));
    }
    let behavior = BehaviorType::parse(request.behavior_type.trim()).ok_or_else(|| {
        to_status(ErrorCode::NotFound, format!("behaviour {:?} does not exist", request.behavior_type))
    })?;
    Ok((user_id, behavior, out_business_no))
}

/// A valid user for the sign-in RPCs: `0002` when blank, or too long for a sign-in's biz_id.
pub(super) fn sign_in_user(value: String) -> Result<UserId, Status> {
    let user_id = user(value)?;
    if !biz_id_fits(user_id.as_str(), "yyyyMMdd") {
        return Err(invalid_argument(
            "user_id",
            format!("must be at most {} characters to sign in", MAX_REBATE_KEY_LEN - "yyyyMMdd".len()),
        ));
    }
    Ok(user_id)
}

fn user(value: String) -> Result<UserId, Status> {
    let user_id = UserId::parse(value).map_err(|e| invalid_argument("user_id", e))?;
    if user_id.as_str().trim().is_empty() {
        return Err(invalid_argument("user_id", "must not be blank"));
    }
    Ok(user_id)
}

/// A rebate order on the wire.
pub(super) fn order(order: RebateOrder) -> pb::RebateOrder {
    pb::RebateOrder {
        order_id: order.order_id,
        behavior_type: order.behavior_type,
        rebate_desc: order.rebate_desc,
        rebate_type: order.rebate_type,
        rebate_config: order.rebate_config,
        out_business_no: order.out_business_no,
        biz_id: order.biz_id,
    }
}
