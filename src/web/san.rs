//! Subject alternative names of an X.509 certificate, for `client_allowed_sans`: parsed with
//! `x509-parser` (no panics on malformed input), formatted as Go's `crypto/x509` does
//! (DNS names, IP addresses, email addresses, URIs).

use std::net::{Ipv4Addr, Ipv6Addr};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// The SANs of a DER certificate, in certificate order; `None` if it cannot be parsed (a
/// malformed or duplicated SAN extension included). Names that are not valid UTF-8 and IP
/// addresses that are neither 4 nor 16 bytes long are skipped; other name types are ignored.
pub(crate) fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    let (_, cert) = X509Certificate::from_der(cert).ok()?;
    let Some(san) = cert.subject_alternative_name().ok()? else {
        return Some(Vec::new());
    };
    let names = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match *name {
            GeneralName::RFC822Name(s) | GeneralName::DNSName(s) | GeneralName::URI(s) => {
                Some(s.to_string())
            }
            GeneralName::IPAddress(ip) => {
                if let Ok(v4) = <[u8; 4]>::try_from(ip) {
                    Some(Ipv4Addr::from(v4).to_string())
                } else if let Ok(v6) = <[u8; 16]>::try_from(ip) {
                    Some(Ipv6Addr::from(v6).to_string())
                } else {
                    None
                }
            }
            _ => None,
        })
        .collect();
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dns_email_ip_and_uri_names_like_go() {
        use rcgen::{CertificateParams, KeyPair, SanType};
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![
            SanType::DnsName("client.example".try_into().expect("dns")),
            SanType::Rfc822Name("prom@example.com".try_into().expect("email")),
            SanType::IpAddress("10.0.0.1".parse().expect("v4")),
            SanType::IpAddress("2001:db8::1".parse().expect("v6")),
            SanType::URI("spiffe://example/prom".try_into().expect("uri")),
        ];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(
            subject_alt_names(cert.der()),
            Some(vec![
                "client.example".to_string(),
                "prom@example.com".to_string(),
                "10.0.0.1".to_string(),
                "2001:db8::1".to_string(),
                "spiffe://example/prom".to_string(),
            ])
        );
        let without = CertificateParams::default()
            .self_signed(&key)
            .expect("cert");
        assert_eq!(subject_alt_names(without.der()), Some(vec![]));
    }

    #[test]
    fn never_panics_on_garbage() {
        let inputs: [&[u8]; 6] = [
            &[],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x03, 0x30, 0x01],
            &[0x30, 0x02, 0xa3, 0x00],
            &[0x1f, 0x00],
        ];
        for input in inputs {
            assert_eq!(subject_alt_names(input), None, "{input:02x?}");
        }
        // Every prefix of a SAN extension wrapped in a structure that is not a certificate.
        let ok = [
            0x30, 0x12, 0x30, 0x10, 0xa3, 0x0e, 0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d,
            0x11, 0x04, 0x03, 0x30, 0x01, 0x00,
        ];
        for n in 0..=ok.len() {
            assert_eq!(subject_alt_names(&ok[..n]), None, "prefix of {n} bytes");
        }
    }

    #[test]
    fn truncated_or_corrupted_certificates_are_none() {
        use rcgen::{CertificateParams, KeyPair, SanType};
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![
            SanType::DnsName("client.example".try_into().expect("dns")),
            SanType::IpAddress("2001:db8::1".parse().expect("v6")),
        ];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let der = cert.der().as_ref();
        assert!(subject_alt_names(der).is_some());
        // Every proper prefix: the outer SEQUENCE claims more bytes than there are.
        for n in 0..der.len() {
            assert_eq!(subject_alt_names(&der[..n]), None, "prefix of {n} bytes");
        }
        // Pseudo-random garbage, and the certificate with its header bytes overwritten.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut garbage = vec![0u8; 512];
        for byte in &mut garbage {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state.to_le_bytes()[0];
        }
        assert_eq!(subject_alt_names(&garbage), None);
        let mut corrupted = der.to_vec();
        corrupted[..4].fill(0xff);
        assert_eq!(subject_alt_names(&corrupted), None);
    }
}
