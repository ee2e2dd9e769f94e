//! The 18 Genesys Cloud regions (REFERENCE.md 1.3, from the official SDKs' region host tables).
//!
//! The login host is the API host with `api.` replaced by `login.`, as every SDK derives it.

/// One Genesys Cloud region: its SDK key (`us_east_1`) and its domain (`mypurecloud.com`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) key: &'static str,
    pub(crate) domain: &'static str,
}

pub(crate) const REGIONS: [Region; 18] = [
    Region {
        key: "us_east_1",
        domain: "mypurecloud.com",
    },
    Region {
        key: "us_east_2",
        domain: "use2.us-gov-pure.cloud",
    },
    Region {
        key: "us_west_2",
        domain: "usw2.pure.cloud",
    },
    Region {
        key: "ca_central_1",
        domain: "cac1.pure.cloud",
    },
    Region {
        key: "sa_east_1",
        domain: "sae1.pure.cloud",
    },
    Region {
        key: "mx_central_1",
        domain: "mxc1.pure.cloud",
    },
    Region {
        key: "eu_west_1",
        domain: "mypurecloud.ie",
    },
    Region {
        key: "eu_west_2",
        domain: "euw2.pure.cloud",
    },
    Region {
        key: "eu_central_1",
        domain: "mypurecloud.de",
    },
    Region {
        key: "eu_central_2",
        domain: "euc2.pure.cloud",
    },
    Region {
        key: "eusc_de_east_1",
        domain: "edee1.eusc-pure.cloud",
    },
    Region {
        key: "me_central_1",
        domain: "mec1.pure.cloud",
    },
    Region {
        key: "ap_south_1",
        domain: "aps1.pure.cloud",
    },
    Region {
        key: "ap_southeast_1",
        domain: "apse1.pure.cloud",
    },
    Region {
        key: "ap_southeast_2",
        domain: "mypurecloud.com.au",
    },
    Region {
        key: "ap_northeast_1",
        domain: "mypurecloud.jp",
    },
    Region {
        key: "ap_northeast_2",
        domain: "apne2.pure.cloud",
    },
    Region {
        key: "ap_northeast_3",
        domain: "apne3.pure.cloud",
    },
];

impl Region {
    /// Accepts a domain (`mypurecloud.ie`), an SDK key (`eu_west_1`) or the AWS spelling
    /// (`eu-west-1`), case-insensitively; surrounding `api.`/`https://` are tolerated because
    /// people paste the host they see in their browser or in another tool's config.
    ///
    /// # Errors
    /// [`UnknownRegion`], listing the known regions, for anything else.
    pub(crate) fn parse(input: &str) -> Result<Region, UnknownRegion> {
        let s = input.trim().to_ascii_lowercase();
        let s = s.strip_prefix("https://").unwrap_or(&s);
        let s = s.trim_end_matches('/');
        let s = s
            .strip_prefix("api.")
            .or_else(|| s.strip_prefix("login."))
            .unwrap_or(s);
        let as_key = s.replace('-', "_");
        REGIONS
            .iter()
            .find(|r| r.domain == s || r.key == as_key)
            .copied()
            .ok_or_else(|| UnknownRegion(input.to_string()))
    }

    #[must_use]
    pub(crate) fn api_url(&self) -> String {
        format!("https://api.{}", self.domain)
    }

    #[must_use]
    pub(crate) fn login_url(&self) -> String {
        format!("https://login.{}", self.domain)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Genesys Cloud region {0:?}; valid regions are: {known}", known = known_regions())]
pub struct UnknownRegion(pub String);

/// `domain (key)` of every region, comma-separated.
fn known_regions() -> String {
    REGIONS
        .iter()
        .map(|r| format!("{} ({})", r.domain, r.key))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_keys_and_aws_names_resolve_to_the_same_region() {
        for input in [
            "mypurecloud.ie",
            "eu_west_1",
            "EU-WEST-1",
            "https://api.mypurecloud.ie/",
        ] {
            let r = Region::parse(input).expect(input);
            assert_eq!(r.api_url(), "https://api.mypurecloud.ie");
            assert_eq!(r.login_url(), "https://login.mypurecloud.ie");
        }
    }

    #[test]
    fn every_region_round_trips_by_domain_and_key() {
        for r in REGIONS {
            assert_eq!(Region::parse(r.domain), Ok(r));
            assert_eq!(Region::parse(r.key), Ok(r));
        }
    }

    #[test]
    fn unknown_region_lists_the_valid_ones() {
        let err = Region::parse("mypurecloud.example")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mypurecloud.example"));
        assert!(err.contains("usw2.pure.cloud (us_west_2)"));
        assert!(err.contains("mypurecloud.com.au"));
    }
}
