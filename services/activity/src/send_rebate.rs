//! `<subject_prefix>.activity.send_rebate` (ARCHITECTURE.md §5, docs/activity.md): one per
//! rebate order, written to the outbox with the order and relayed until JetStream has it.
//! Consumed here (durable `<stream_prefix>_activity_send_rebate`: `sku` rebates become a
//! no-pay recharge) and by the award service (durable `<stream_prefix>_award_send_rebate`:
//! `integral` rebates become a forward credit trade).

use bm_server::{
    NatsSettings,
    events::{ConsumerSpec, run_consumer},
};
use tokio_util::sync::CancellationToken;

use crate::{storage::RebateOrder, usecase::RebateUseCases};

pub use bm_server::payloads::SendRebate;

/// The event of a rebate order.
impl From<&RebateOrder> for SendRebate {
    fn from(order: &RebateOrder) -> Self {
        Self {
            user_id: order.user_id.clone(),
            order_id: order.order_id.clone(),
            behavior_type: order.behavior_type.clone(),
            rebate_type: order.rebate_type.clone(),
            rebate_config: order.rebate_config.clone(),
            rebate_desc: order.rebate_desc.clone(),
            biz_id: order.biz_id.clone(),
            out_business_no: order.out_business_no.clone(),
        }
    }
}

/// Runs the activity's send_rebate consumer until shutdown, restarting it if it fails;
/// parked messages go to `parked_message`.
pub async fn consume_send_rebate(
    jetstream: async_nats::jetstream::Context,
    nats: NatsSettings,
    pool: sqlx::PgPool,
    rebates: RebateUseCases,
    shutdown: CancellationToken,
) {
    let spec = ConsumerSpec::for_event(&nats, "activity", "send_rebate");
    let rebates = &rebates;
    run_consumer(jetstream, spec, pool, |event| rebates.on_send_rebate(event), shutdown).await;
}
