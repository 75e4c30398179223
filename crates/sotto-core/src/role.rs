//! Staff roles and what each may do: one table, shared with API keys (a role is a named set of
//! scopes), the password rules for staff (NIST SP 800-63B), and what break-glass grants.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::scope::Scope;

/// A staff member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Writes templates, segments, campaigns and journeys; never sees PHI or approves.
    Composer,
    /// Approves content, campaigns and journeys; reads the vault and, audited, patients' PHI.
    Compliance,
    /// Runs the installation: staff, keys and clients (with the integration scopes), webhooks,
    /// dispatch. No PHI.
    Admin,
    /// Reads reports and sizes; no PHI, no writes.
    Analyst,
    /// Keeps sending healthy: dispatch, messages' states, metrics. No PHI.
    Operator,
    /// Reads the audit trail and what produced it; no PHI.
    Auditor,
}

use Scope as S;

/// What every signed-in role may read: the dashboard's sources.
const COMMON: &[Scope] = &[S::DictionaryRead, S::CampaignsRead, S::JourneysRead, S::TemplatesRead];

/// The one table of roles and their scopes.
const TABLE: &[(Role, &str, &[Scope])] = &[
    (
        Role::Composer,
        "composer",
        &[S::TemplatesWrite, S::ContentLint, S::SegmentsRead, S::SegmentsWrite, S::CampaignsWrite, S::JourneysWrite],
    ),
    (
        Role::Compliance,
        "compliance",
        &[
            S::Compliance,
            S::ContentLint,
            S::VaultRead,
            S::VaultWrite,
            S::PatientsRead,
            S::PatientsReadPhi,
            S::ConsentRead,
            S::SegmentsRead,
            S::SegmentsMembers,
            S::AuditRead,
            S::DictionaryWrite,
        ],
    ),
    (
        Role::Admin,
        "admin",
        &[
            S::UsersManage,
            S::KeysManage,
            S::WebhooksManage,
            S::DispatchManage,
            S::MetricsRead,
            S::AuditRead,
            S::DictionaryWrite,
            S::SegmentsRead,
            // What integrations need, so an admin can make their keys and clients; none reads PHI.
            S::EventsWrite,
            S::MessagesSend,
            S::MessagesRead,
            S::ConsentWrite,
            S::InboundWrite,
            S::SecureMessagesWrite,
            S::SecureMessagesRead,
        ],
    ),
    (Role::Analyst, "analyst", &[S::SegmentsRead, S::MetricsRead]),
    (Role::Operator, "operator", &[S::DispatchManage, S::MessagesRead, S::MetricsRead, S::SecureMessagesRead, S::PatientsRead]),
    (Role::Auditor, "auditor", &[S::AuditRead, S::MetricsRead]),
];

/// What break-glass adds for its time: the PHI a role does not otherwise read.
pub const BREAK_GLASS_SCOPES: &[Scope] = &[S::PatientsRead, S::PatientsReadPhi, S::ConsentRead, S::SegmentsMembers, S::VaultRead];

impl Role {
    /// Every role, in the order pages list them.
    pub const ALL: [Role; 6] = [Role::Composer, Role::Compliance, Role::Admin, Role::Analyst, Role::Operator, Role::Auditor];

    fn row(self) -> &'static (Role, &'static str, &'static [Scope]) {
        TABLE.iter().find(|(r, _, _)| *r == self).expect("every role is in the table")
    }

    /// The stored and shown name, such as `compliance`.
    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    /// Parses a stored or typed name.
    pub fn parse(raw: &str) -> Option<Role> {
        TABLE.iter().find(|(_, name, _)| *name == raw.trim()).map(|(r, _, _)| *r)
    }

    /// Every scope the role holds, sorted.
    pub fn scopes(self) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = COMMON.iter().chain(self.row().2).copied().collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Whether the role reads protected health information without break-glass.
    pub fn reads_phi(self) -> bool {
        self.row().2.iter().any(|s| matches!(s, S::PatientsReadPhi | S::VaultRead | S::SegmentsMembers | S::ConsentRead))
    }
}

/// The scopes of a role while a break-glass grant is live.
pub fn with_break_glass(role: Role) -> Vec<Scope> {
    let mut scopes = role.scopes();
    scopes.extend_from_slice(BREAK_GLASS_SCOPES);
    scopes.sort();
    scopes.dedup();
    scopes
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| include_str!("data/common_passwords.txt").lines().filter(|l| !l.is_empty()).collect())
}

/// The shortest password accepted. Every staff account has a second factor (TOTP: Sotto asks
/// it of every role, not only those that read PHI and admins), for which
/// NIST SP 800-63B-4 sets eight characters; Sotto asks twelve.
pub const MIN_PASSWORD: usize = 12;
/// The longest: well above the 64 NIST asks to accept, below what makes hashing a burden.
pub const MAX_PASSWORD: usize = 128;

/// Checks a new staff password against NIST SP 800-63B-4: length only (no composition rules),
/// not a common password, not the account's own name. Answers the broken rule's code.
pub fn check_password(password: &str, email: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if length < MIN_PASSWORD {
        return Err("password_too_short");
    }
    if length > MAX_PASSWORD {
        return Err("password_too_long");
    }
    let lower = password.to_lowercase();
    if common_passwords().contains(lower.as_str()) || common_passwords().iter().any(|p| p.len() >= 8 && lower.len() <= p.len() + 4 && lower.contains(p)) {
        return Err("password_common");
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Err("password_contains_name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_compliance_reads_phi_and_only_admins_manage_users() {
        for role in Role::ALL {
            assert_eq!(role.reads_phi(), role == Role::Compliance, "{role:?}");
            assert_eq!(role.scopes().contains(&Scope::UsersManage), role == Role::Admin, "{role:?}");
            assert_eq!(role.scopes().contains(&Scope::Compliance), role == Role::Compliance, "{role:?}");
        }
    }

    #[test]
    fn a_composer_cannot_read_the_vault_or_approve() {
        let scopes = Role::Composer.scopes();
        assert!(!scopes.contains(&Scope::VaultRead) && !scopes.contains(&Scope::Compliance) && !scopes.contains(&Scope::PatientsReadPhi));
    }

    #[test]
    fn break_glass_adds_phi_reading_and_nothing_else() {
        let before = Role::Operator.scopes();
        let after = with_break_glass(Role::Operator);
        let added: Vec<_> = after.iter().filter(|s| !before.contains(s)).collect();
        assert!(added.contains(&&Scope::PatientsReadPhi) && added.contains(&&Scope::VaultRead));
        assert!(added.iter().all(|s| BREAK_GLASS_SCOPES.contains(s)));
    }

    #[test]
    fn passwords_follow_length_and_blocklist_rules_without_composition_rules() {
        assert_eq!(check_password("short one", "a@b.c"), Err("password_too_short"));
        assert_eq!(check_password(&"x".repeat(129), "a@b.c"), Err("password_too_long"));
        assert_eq!(check_password("password1234", "a@b.c"), Err("password_common"));
        assert_eq!(check_password("Qwertyuiop12", "a@b.c"), Err("password_common"));
        assert_eq!(check_password("maria.lopez-2026!", "maria.lopez@clinic.example"), Err("password_contains_name"));
        assert_eq!(check_password("all lower case words here", "a@b.c"), Ok(()));
        assert_eq!(check_password(&"é".repeat(64), "a@b.c"), Ok(()));
    }
}
