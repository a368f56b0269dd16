//! The service registry: [`SERVICES`] lists every service ferry connects to. Each service
//! declares its [`Service`] in its own folder and is listed once, by name, in `services!`
//! (crates/connectors/src/lib.rs); nothing else names a service.

use crate::service::Service;

/// Every service, in the order people are offered them.
pub static SERVICES: &[&Service] = crate::LISTED;

/// The service of a name (as on the command line, in `ferry.toml` and in the journal).
pub fn named(name: &str) -> Option<&'static Service> {
    SERVICES.iter().copied().find(|s| s.name == name)
}

/// Every service's name, in [`SERVICES`] order.
pub fn names() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::service::Credential;

    #[test]
    fn the_registry_is_consistent() {
        let mut names = std::collections::BTreeSet::new();
        for &service in SERVICES {
            assert!(names.insert(service.name), "{service} twice");
            assert!(std::ptr::eq(named(service.name).unwrap(), service));
            assert!(
                !service.methods.is_empty(),
                "{service} has no way to connect"
            );
            // An OAuth method and an OAuth app go together, and agree on PKCE, and the app
            // is this service's.
            let config = Config::defaults().service(service).clone();
            let app = service.oauth_app(&config);
            let declared = service.methods.iter().find_map(|m| match m.credential {
                Credential::OAuth { pkce } => Some(pkce),
                _ => None,
            });
            assert_eq!(app.as_ref().map(|a| a.pkce), declared, "{service}");
            assert!(app.is_none_or(|a| a.service == service), "{service}");
            for method in service.methods {
                let mut keys = std::collections::BTreeSet::new();
                for option in method.options {
                    assert!(keys.insert(option.key), "{service}: {} twice", option.key);
                    assert!(option.env.is_none() || option.is_secret());
                }
            }
        }
        assert_eq!(names.len(), SERVICES.len());
    }
}
