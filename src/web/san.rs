//! Subject alternative names of an X.509 certificate, for `client_allowed_sans`: a small,
//! bounds-checked DER walk (no panics on malformed input), formatted as Go's `crypto/x509` does
//! (DNS names, IP addresses, email addresses, URIs).

use std::net::{Ipv4Addr, Ipv6Addr};

/// One DER element: (tag, contents, rest of the input).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in the structures walked here
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest.get(n..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

const SEQUENCE: u8 = 0x30;
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11]; // 2.5.29.17

/// The SANs of a DER certificate; `None` if it cannot be parsed.
pub(crate) fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    let (tag, cert, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut names = Vec::new();
    while !tbs.is_empty() {
        let (tag, value, rest) = tlv(tbs)?;
        tbs = rest;
        if tag != 0xa3 {
            continue; // [3] EXPLICIT extensions
        }
        let (tag, mut exts, _) = tlv(value)?;
        if tag != SEQUENCE {
            return None;
        }
        while !exts.is_empty() {
            let (tag, ext, rest) = tlv(exts)?;
            exts = rest;
            if tag != SEQUENCE {
                return None;
            }
            let (tag, oid, mut ext) = tlv(ext)?;
            if tag != 0x06 || oid != OID_SAN {
                continue;
            }
            // Optional `critical BOOLEAN`, then the OCTET STRING holding GeneralNames.
            let (mut tag, mut octets, rest) = tlv(ext)?;
            if tag == 0x01 {
                ext = rest;
                (tag, octets, _) = tlv(ext)?;
            }
            if tag != 0x04 {
                return None;
            }
            let (tag, mut general, _) = tlv(octets)?;
            if tag != SEQUENCE {
                return None;
            }
            while !general.is_empty() {
                let (tag, value, rest) = tlv(general)?;
                general = rest;
                match tag {
                    // [1] rfc822Name, [2] dNSName, [6] URI: IA5String, implicitly tagged.
                    0x81 | 0x82 | 0x86 => {
                        if let Ok(s) = std::str::from_utf8(value) {
                            names.push(s.to_string());
                        }
                    }
                    // [7] iPAddress
                    0x87 => {
                        if let Ok(v4) = <[u8; 4]>::try_from(value) {
                            names.push(Ipv4Addr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(value) {
                            names.push(Ipv6Addr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
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
            let _ = subject_alt_names(input);
        }
        // Every prefix of a well-formed structure.
        let ok = [
            0x30, 0x12, 0x30, 0x10, 0xa3, 0x0e, 0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d,
            0x11, 0x04, 0x03, 0x30, 0x01, 0x00,
        ];
        for n in 0..ok.len() {
            let _ = subject_alt_names(&ok[..n]);
        }
    }
}
