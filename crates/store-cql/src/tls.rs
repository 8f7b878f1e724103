//! TLS to the nodes (`store.tls`), with rustls: the nodes' certificates checked against the
//! configured authorities (or the system's roots), and a client certificate when given.

use std::path::Path;
use std::sync::Arc;

use domain::{Error, ErrorCode, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::CqlConfig;

fn invalid(what: String) -> Error {
    Error::invalid(ErrorCode::InvalidConfig, what)
}

fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("store.{key} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!("store.{key} {}: no certificate in it", path.display())));
    }
    Ok(certs)
}

/// The rustls client configuration of `config` (whose `tls` is set).
pub(crate) fn client_config(config: &CqlConfig) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match &config.tls_ca_file {
        Some(path) => {
            for cert in certificates(path, "tls_ca_file")? {
                roots.add(cert).map_err(|e| invalid(format!("store.tls_ca_file {}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(invalid("store.tls: no system root certificate found; set store.tls_ca_file".into()));
            }
        }
    }
    // aws-lc-rs, the provider the rest of the binary uses (NATS, HTTPS clients).
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("store.tls: {e}")))?
        .with_root_certificates(roots);
    let client = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => {
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| invalid(format!("store.tls_key_file {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(certificates(cert, "tls_cert_file")?, key)
                .map_err(|e| invalid(format!("store.tls_cert_file: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(client))
}
