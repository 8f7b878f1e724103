//! The user sync: the realm's users, read through the Keycloak admin API, provisioned as
//! Petit chat users so people who never logged in can be found and added to chats. Run by
//! `petit-chat sync-users` and, with `identity.sync_interval_secs`, periodically by `serve`.

use std::time::Duration;

use anyhow::Context;
use identity_oidc::{Directory, OidcIdentity};
use ports::VerifiedIdentity;
use service::{ChatService, Provisioned};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, IdentityKind};

/// What one sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Disabled in the realm and not known here: not created.
    pub skipped_disabled: usize,
    /// Could not be provisioned (e.g. the username belongs to another account); logged.
    pub failed: usize,
}

/// Reads the realm's users and provisions each one.
pub async fn sync_users(service: &ChatService, config: &Config) -> anyhow::Result<SyncReport> {
    anyhow::ensure!(config.identity.kind == IdentityKind::Oidc, "the user sync needs identity.kind = \"oidc\"");
    let oidc = &config.identity.oidc;
    let issuer = OidcIdentity::new(oidc)?.issuer().to_string();
    let people = Directory::new(oidc)?.users().await.context("cannot list the realm's users")?;
    let mut report = SyncReport::default();
    for person in people {
        let identity = VerifiedIdentity {
            issuer: issuer.clone(),
            subject: person.subject,
            username: person.username,
            display_name: person.display_name,
        };
        if !person.enabled && service.store().user_by_subject(&issuer, &identity.subject).await?.is_none() {
            report.skipped_disabled += 1;
            continue;
        }
        match service.provision(&identity).await {
            Ok((_, Provisioned::Created)) => report.created += 1,
            Ok((_, Provisioned::Updated)) => report.updated += 1,
            Ok((_, Provisioned::Unchanged)) => report.unchanged += 1,
            Err(error) => {
                tracing::warn!(username = %identity.username, %error, "user sync: cannot provision");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Runs the sync every `interval` until `shutdown`.
pub(crate) async fn run_periodic(
    service: ChatService,
    config: Config,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match sync_users(&service, &config).await {
            Ok(report) => tracing::info!(?report, "user sync done"),
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "user sync failed; next try in {interval:?}"),
        }
    }
}
