//! Domain → proto.

use bm_api::activity as pb;
use chrono::{DateTime, Utc};

use crate::{
    domain::{Activity, Stage},
    storage::{OrderRow, PartakeOutcome, SkuRow},
    usecase::AccountView,
};

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: at.timestamp(), nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0) }
}

pub(super) fn activity(activity: &Activity) -> pb::Activity {
    pb::Activity {
        activity_id: activity.activity_id,
        activity_name: activity.activity_name.clone(),
        activity_desc: activity.activity_desc.clone(),
        begin_time: Some(timestamp(activity.begin_time)),
        end_time: Some(timestamp(activity.end_time)),
        strategy_id: activity.strategy_id,
        state: activity.state.as_str().to_owned(),
    }
}

pub(super) fn partake(outcome: PartakeOutcome) -> pb::PartakeResponse {
    pb::PartakeResponse {
        strategy_id: outcome.order.strategy_id,
        end_time: Some(timestamp(outcome.order.end_date_time)),
        order_id: outcome.order.order_id,
        reused: outcome.reused,
        total_partake_count: outcome.total_partake_count,
        day_partake_count: outcome.day_partake_count,
    }
}

pub(super) fn account(view: AccountView) -> pb::QueryAccountResponse {
    pb::QueryAccountResponse {
        total_count: view.total.0,
        total_count_surplus: view.total.1,
        month_count: view.month.0,
        month_count_surplus: view.month.1,
        day_count: view.day.0,
        day_count_surplus: view.day.1,
        total_partake_count: view.total_partake_count,
        day_partake_count: view.day_partake_count,
    }
}

pub(super) fn sku(row: &SkuRow) -> pb::Sku {
    pb::Sku {
        sku: row.sku,
        activity_id: row.activity_id,
        activity_count_id: row.activity_count_id,
        stock_count: row.stock_count,
        stock_count_surplus: row.stock_count_surplus,
        product_amount: row.product_amount.to_string(),
        activity_count: Some(pb::ActivityCount {
            total_count: row.total_count,
            day_count: row.day_count,
            month_count: row.month_count,
        }),
    }
}

pub(super) fn stage(stage: Stage) -> pb::ActivityStage {
    pb::ActivityStage {
        id: stage.id,
        channel: stage.channel,
        source: stage.source,
        activity_id: stage.activity_id,
        state: stage.state.as_str().to_owned(),
        created_at: Some(timestamp(stage.created_at)),
        updated_at: Some(timestamp(stage.updated_at)),
    }
}

pub fn order(order: OrderRow) -> pb::RaffleOrder {
    pb::RaffleOrder {
        order_id: order.order_id,
        activity_id: order.activity_id,
        activity_name: order.activity_name,
        strategy_id: order.strategy_id,
        order_time: Some(timestamp(order.order_time)),
        order_state: order.order_state,
    }
}
