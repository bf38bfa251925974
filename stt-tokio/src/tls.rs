//! TLS for the WebSocket transport (`wss://`): [`TlsIdentity`], the certificate and key a
//! listener presents, and [`TlsRoots`], the authorities a client trusts (the system's, or ones
//! the operator gives). STT's own handshake still authenticates the peer by its seed and identity
//! key inside; TLS is what lets the traffic through proxies and firewalls that only allow HTTPS.
//! `rustls` with the `ring` provider.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Tls(format!("{what}: {e}"))
}

/// The certificate chain and private key a `wss://` listener presents (see
/// [`crate::NodeConfig::wss`]).
#[derive(Clone)]
pub struct TlsIdentity(pub(crate) Arc<ServerConfig>);

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity")
    }
}

impl TlsIdentity {
    /// From PEM text: the certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsIdentity, Error> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error("certificate chain", e))?;
        if certs.is_empty() {
            return Err(Error::Tls("certificate chain: no CERTIFICATE block in the PEM text".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| tls_error("private key", e))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("TLS versions", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| tls_error("certificate and key", e))?;
        Ok(TlsIdentity(Arc::new(config)))
    }

    /// The `rustls` server configuration, for serving something else on the same certificate
    /// (the `stt` tool's page for browsers is served over HTTPS with its listener's).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.0.clone()
    }

    /// From two PEM files, as most operators hold them.
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<TlsIdentity, Error> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| tls_error(&p.display().to_string(), e));
        TlsIdentity::from_pem(&read(cert_chain.as_ref())?, &read(key.as_ref())?)
    }
}

/// The authorities a client trusts for `wss://` servers (see [`crate::NodeConfig::tls_roots`]).
#[derive(Clone)]
pub struct TlsRoots(pub(crate) Arc<ClientConfig>);

impl std::fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsRoots")
    }
}

impl TlsRoots {
    /// The operating system's trusted authorities (what a client uses unless told otherwise).
    pub fn system() -> Result<TlsRoots, Error> {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found.errors.first().map_or_else(|| "none found".to_string(), |e| e.to_string());
            return Err(Error::Tls(format!("system trust store: {why}; give roots with TlsRoots::from_pem")));
        }
        TlsRoots::from_store(store)
    }

    /// The authorities in PEM text (one or more CERTIFICATE blocks), and only those.
    pub fn from_pem(roots: &[u8]) -> Result<TlsRoots, Error> {
        let mut store = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(roots) {
            store.add(cert.map_err(|e| tls_error("root certificate", e))?).map_err(|e| tls_error("root", e))?;
        }
        if store.is_empty() {
            return Err(Error::Tls("roots: no CERTIFICATE block in the PEM text".into()));
        }
        TlsRoots::from_store(store)
    }

    /// [`TlsRoots::from_pem`] from a file.
    pub fn from_pem_file(roots: impl AsRef<Path>) -> Result<TlsRoots, Error> {
        let p = roots.as_ref();
        TlsRoots::from_pem(&std::fs::read(p).map_err(|e| tls_error(&p.display().to_string(), e))?)
    }

    fn from_store(store: RootCertStore) -> Result<TlsRoots, Error> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("TLS versions", e))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(TlsRoots(Arc::new(config)))
    }
}
