//! The Blobs conformance suite on a local directory.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

mod conformance {
    blobs_conformance::blobs_conformance_tests!({
        // Each check gets its own directory, kept for the check's length.
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        Box::new(blobs::LocalBlobs::open(dir.path()).unwrap())
    });
}

#[test]
fn opening_removes_what_interrupted_uploads_left_in_staging() {
    let dir = tempfile::tempdir().unwrap();
    blobs::LocalBlobs::open(dir.path()).unwrap();
    std::fs::write(dir.path().join("staging/leftover"), b"half an upload").unwrap();
    blobs::LocalBlobs::open(dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(dir.path().join("staging")).unwrap().count(), 0);
}
