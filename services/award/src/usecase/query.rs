//! ListUserAwards and QueryUserCredit.

use bm_kernel::UserId;

use super::{AwardError, AwardUseCases};
use crate::storage::{AwardRecordView, CreditAccount};

impl AwardUseCases {
    /// A user's award records on an activity, newest first.
    #[tracing::instrument(name = "award.list", skip_all, fields(user_id = %user_id, activity_id))]
    pub async fn list_user_awards(
        &self,
        user_id: &UserId,
        activity_id: i64,
    ) -> Result<Vec<AwardRecordView>, AwardError> {
        self.store.list_awards(user_id.as_str(), activity_id).await
    }

    /// A user's credit account; zeros when the user has none.
    #[tracing::instrument(name = "award.credit", skip_all, fields(user_id = %user_id))]
    pub async fn query_user_credit(&self, user_id: &UserId) -> Result<CreditAccount, AwardError> {
        Ok(self.store.credit_account(user_id.as_str()).await?.unwrap_or_default())
    }
}
