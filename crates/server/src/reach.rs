//! Which hosts a person may point the server at. A WebDAV URL or an S3 endpoint typed into a
//! form makes `ferry serve` send requests there; without a limit anyone signed in could reach
//! the server's own network (its loopback, the cloud's metadata address, internal services).
//! Unless `[serve] private_endpoints = true` (a server for one household, or the sandbox),
//! a URL whose host is or resolves to such an address is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Refuses `url` when its host is not public, unless `private_allowed`.
pub async fn check_endpoint(url: &str, private_allowed: bool) -> Result<(), String> {
    if private_allowed {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url} names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("{host} cannot be resolved: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    match addresses.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(format!(
            "{host} is inside the server's own network ({ip}); this server connects only to public addresses"
        )),
        None => Ok(()),
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT, 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7 and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[tokio::test]
    async fn the_servers_own_network_is_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/dav",
            "http://localhost/dav",
            "http://10.1.2.3/",
            "http://192.168.0.10/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9000/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
        ] {
            let refused = check_endpoint(url, false).await.unwrap_err();
            assert!(
                refused.contains("inside the server's own network"),
                "{url}: {refused}"
            );
            assert!(check_endpoint(url, true).await.is_ok(), "{url}");
        }
        assert!(
            check_endpoint("https://93.184.216.34/dav", false)
                .await
                .is_ok()
        );
        assert!(
            check_endpoint("https://[2606:4700::1111]/", false)
                .await
                .is_ok()
        );
        assert!(check_endpoint("not a url", false).await.is_err());
    }
}
