//! What the unit tests of several use cases share: a service on a SQLite store and the
//! local bus in a temporary directory, and users signed in through it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

use std::sync::Arc;

use domain::{IdGenerator, Limits, User};
use ports::{Blobs, Bus, Store, VerifiedIdentity};

use crate::ChatService;

/// A service and its parts; the directory lives as long as it does.
pub(crate) struct TestService {
    pub service: ChatService,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub blobs: Arc<dyn Blobs>,
    pub dir: tempfile::TempDir,
}

/// A service with no workers running (a test starts those it needs).
pub(crate) fn service() -> TestService {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(store_sqlite::SqliteStore::open(&dir.path().join("db"), store_sqlite::Durability::Normal).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(bus_local::LocalBus::new(bus_local::LocalBusConfig::default()));
    let blobs: Arc<dyn Blobs> = Arc::new(blobs::LocalBlobs::open(dir.path().join("blobs")).unwrap());
    let service =
        ChatService::new(store.clone(), bus.clone(), blobs.clone(), Arc::new(IdGenerator::new(1)), Limits::default());
    TestService { service, store, bus, blobs, dir }
}

/// The user `name`, signed in for the first time.
pub(crate) async fn user(service: &ChatService, name: &str) -> User {
    let identity =
        VerifiedIdentity { issuer: "test".into(), subject: name.into(), username: name.into(), display_name: None };
    service.user_for_identity(&identity).await.unwrap()
}
