//! Who may do what: five roles, each a fixed set of permissions.
//!
//! HIPAA's minimum-necessary rule, applied to two kinds of staff with different jobs: compliance
//! staff read calls and the audit log; clinic staff run the schedule. Neither role family sees the
//! other's data unless its job needs it (`admin` holds every permission, for a small practice where
//! one person does both). Handlers ask for a [`Permission`], never compare roles, so adding a role
//! is one row in [`Role::can`] and its tests.

use serde::Serialize;

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Compliance: read calls, play recordings, work the callback and lockout queue.
    Reviewer,
    /// Compliance: also export and verify the audit chain.
    Auditor,
    /// Everything, including staff accounts and legal holds.
    Admin,
    /// Clinic: the schedule (view, book, move, cancel, outcomes, block time), callbacks, report
    /// charts — not the raw report exports, the schedule configuration or call recordings.
    FrontDesk,
    /// Clinic: the front desk's work plus the schedule configuration and the report exports.
    ClinicAdmin,
}

/// One thing a handler may ask a role for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// The call index, a call's transcript and tools, recordings.
    ReadCalls,
    /// The callback and lockout work queue.
    WorkQueue,
    /// Verify and export the audit log.
    ExportAudit,
    /// Staff accounts, legal holds.
    ManageStaff,
    /// The schedule with its patients' names, an appointment's record and notifications.
    ViewSchedule,
    /// Book, move, cancel, mark outcomes, block time (overrides included, each with a reason).
    ChangeSchedule,
    /// Providers' hours, visit types, buffers, notice, horizon, days off.
    ConfigureSchedule,
    /// The report page: counts and charts, never identities.
    ViewReports,
    /// The report's CSV downloads.
    ExportReports,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Reviewer,
        Role::Auditor,
        Role::Admin,
        Role::FrontDesk,
        Role::ClinicAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::FrontDesk => "front_desk",
            Role::ClinicAdmin => "clinic_admin",
        }
    }

    /// Parse a stored or typed role name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role holds `permission`.
    pub fn can(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Reviewer => matches!(permission, P::ReadCalls | P::WorkQueue),
            Role::Auditor => matches!(permission, P::ReadCalls | P::WorkQueue | P::ExportAudit),
            Role::FrontDesk => matches!(
                permission,
                P::WorkQueue | P::ViewSchedule | P::ChangeSchedule | P::ViewReports
            ),
            Role::ClinicAdmin => matches!(
                permission,
                P::WorkQueue
                    | P::ViewSchedule
                    | P::ChangeSchedule
                    | P::ConfigureSchedule
                    | P::ViewReports
                    | P::ExportReports
            ),
        }
    }

    /// Every permission this role holds, by name (the page shows only what the role may use).
    pub fn permissions(self) -> Vec<&'static str> {
        use Permission as P;
        [
            (P::ReadCalls, "read_calls"),
            (P::WorkQueue, "work_queue"),
            (P::ExportAudit, "export_audit"),
            (P::ManageStaff, "manage_staff"),
            (P::ViewSchedule, "view_schedule"),
            (P::ChangeSchedule, "change_schedule"),
            (P::ConfigureSchedule, "configure_schedule"),
            (P::ViewReports, "view_reports"),
            (P::ExportReports, "export_reports"),
        ]
        .into_iter()
        .filter(|(p, _)| self.can(*p))
        .map(|(_, name)| name)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("superuser"), None);
        assert_eq!(Role::parse("Admin"), None);
    }

    /// The whole matrix, spelled out: a change to who may do what must change this table.
    #[test]
    fn each_role_holds_exactly_its_permissions() {
        let expect: [(Role, &[&str]); 5] = [
            (Role::Reviewer, &["read_calls", "work_queue"]),
            (Role::Auditor, &["read_calls", "work_queue", "export_audit"]),
            (
                Role::Admin,
                &[
                    "read_calls",
                    "work_queue",
                    "export_audit",
                    "manage_staff",
                    "view_schedule",
                    "change_schedule",
                    "configure_schedule",
                    "view_reports",
                    "export_reports",
                ],
            ),
            (
                Role::FrontDesk,
                &["work_queue", "view_schedule", "change_schedule", "view_reports"],
            ),
            (
                Role::ClinicAdmin,
                &[
                    "work_queue",
                    "view_schedule",
                    "change_schedule",
                    "configure_schedule",
                    "view_reports",
                    "export_reports",
                ],
            ),
        ];
        for (role, perms) in expect {
            assert_eq!(role.permissions(), perms, "{role:?}");
        }
    }

    #[test]
    fn clinic_roles_never_read_calls_and_compliance_roles_never_touch_the_schedule() {
        for r in [Role::FrontDesk, Role::ClinicAdmin] {
            assert!(
                !r.can(Permission::ReadCalls) && !r.can(Permission::ExportAudit) && !r.can(Permission::ManageStaff)
            );
        }
        for r in [Role::Reviewer, Role::Auditor] {
            assert!(!r.can(Permission::ViewSchedule) && !r.can(Permission::ChangeSchedule));
        }
    }
}
