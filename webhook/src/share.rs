//! What each container gets: the injection's rule as one table of data. A container's case
//! (its choice, and what it sets itself) and how the pod's roles are delivered pick one row;
//! the row says which groups of variables and which mounts the container gets.
//! [`crate::inject`] writes the patch from it, and webhook/README.md shows it beside the SDK
//! table that explains each row.
//!
//! The rule, from the SDKs' own precedence (webhook/README.md, "Which SDK reads what"):
//! - a container on the default role keeps the web identity variables even when the KSA has
//!   named roles: env-only clients (the Java SDK v1's `WebIdentityTokenCredentialsProvider`,
//!   Hadoop S3A, tools that read the two variables) would otherwise lose their credentials when a
//!   second role is added; it also gets the config file, so an explicit profile (`--profile`,
//!   `profile_name=`, `fromIni({profile})`, `.profile_name()`) reaches a named role;
//! - a container bound to a profile, or with its own `AWS_PROFILE`, gets no web identity
//!   variables: botocore, the Go, Java and .NET SDKs let `AWS_ROLE_ARN` win over the profile
//!   `AWS_PROFILE` names;
//! - a pod that wants `AWS_PROFILE` at run time to switch roles in every SDK says so
//!   ([`crate::keys::PROFILE_SWITCHING`]): then no container gets the web identity or region
//!   variables, only the config file.

/// How the pod's roles reach its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The KSA has the default role only: the web identity variables, no config file.
    OneRole,
    /// The KSA has named roles: the config file for every container that gets a role, and the
    /// web identity variables for those on the default role.
    Profiles,
    /// Named roles and the pod's `gke-aws-verifier/profile-switching: runtime`: the config file
    /// only, so `AWS_PROFILE` set at run time picks the role in every SDK.
    RuntimeSwitching,
}

/// What a container is, for the injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `profile.C: none`, skipped, or left out by the include list.
    Nothing,
    /// Sets any of `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_SESSION_NAME`
    /// itself (without the webhook's token mount): it keeps its own role.
    OwnRole,
    /// The default role, no `AWS_PROFILE` of its own.
    DefaultRole,
    /// Bound to a named role by `gke-aws-verifier/profile.C: NAME`.
    Bound,
    /// The default role, but it sets `AWS_PROFILE` itself (with named roles only: without a
    /// config file of the pod's, its profile is in a file of its own).
    OwnProfile,
}

/// What a row gives. Each field is a group of variables or a mount; a variable the container
/// sets itself is never overwritten (see [`crate::inject`] for the units kept whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gets {
    /// `AWS_ROLE_ARN` (the default role) and `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub web_identity: bool,
    /// `AWS_ROLE_SESSION_NAME`: the pod's name, read by botocore and the JavaScript SDK also
    /// for a profile whose file has none.
    pub session_name: bool,
    /// `AWS_REGION` and `AWS_DEFAULT_REGION`: the default role's region. Every SDK lets them
    /// win over a profile's `region`.
    pub region: bool,
    /// `AWS_CONFIG_FILE`, `AWS_SDK_LOAD_CONFIG=1` (the Go SDK v1 reads the file only with it)
    /// and the config file's mount.
    pub config_file: bool,
    /// `AWS_PROFILE`: the bound profile.
    pub profile: bool,
    /// The token's mount.
    pub token: bool,
    /// `AWS_STS_REGIONAL_ENDPOINTS=regional`.
    pub sts_regional: bool,
}

/// One row: for which deliveries and which case, what the container gets, and why.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub deliveries: &'static [Delivery],
    pub case: Case,
    pub gets: Gets,
    /// The row in words.
    pub why: &'static str,
}

const NOTHING: Gets = Gets {
    web_identity: false,
    session_name: false,
    region: false,
    config_file: false,
    profile: false,
    token: false,
    sts_regional: false,
};

const ALL: &[Delivery] = &[Delivery::OneRole, Delivery::Profiles, Delivery::RuntimeSwitching];
const NAMED: &[Delivery] = &[Delivery::Profiles, Delivery::RuntimeSwitching];

/// What each container gets. Every (delivery, case) that can occur matches exactly one row
/// (a test says so); [`Case::Bound`] and [`Case::OwnProfile`] occur only with named roles.
pub static TABLE: [Row; 8] = [
    Row {
        deliveries: ALL,
        case: Case::Nothing,
        gets: NOTHING,
        why: "no credentials: no token, no config, no variables",
    },
    Row {
        deliveries: &[Delivery::OneRole],
        case: Case::DefaultRole,
        gets: Gets {
            web_identity: true,
            session_name: true,
            region: true,
            token: true,
            sts_regional: true,
            ..NOTHING
        },
        why: "the default role from the web identity variables, which every SDK reads",
    },
    Row {
        deliveries: &[Delivery::Profiles],
        case: Case::DefaultRole,
        gets: Gets {
            web_identity: true,
            session_name: true,
            region: true,
            config_file: true,
            token: true,
            sts_regional: true,
            ..NOTHING
        },
        why: "the default role from the web identity variables (env-only clients keep it); an explicit profile reaches a named role",
    },
    Row {
        deliveries: &[Delivery::RuntimeSwitching],
        case: Case::DefaultRole,
        gets: Gets {
            session_name: true,
            config_file: true,
            token: true,
            sts_regional: true,
            ..NOTHING
        },
        why: "every role from the config file: [default], or the profile AWS_PROFILE names at run time",
    },
    Row {
        deliveries: NAMED,
        case: Case::Bound,
        gets: Gets {
            session_name: true,
            config_file: true,
            profile: true,
            token: true,
            sts_regional: true,
            ..NOTHING
        },
        why: "its named role: AWS_PROFILE and the config file, no web identity variables to win over the profile",
    },
    Row {
        deliveries: NAMED,
        case: Case::OwnProfile,
        gets: Gets {
            session_name: true,
            config_file: true,
            token: true,
            sts_regional: true,
            ..NOTHING
        },
        why: "the profile its own AWS_PROFILE names, from the config file; no web identity variables to win over it",
    },
    Row {
        deliveries: &[Delivery::OneRole, Delivery::Profiles],
        case: Case::OwnRole,
        gets: Gets {
            region: true,
            sts_regional: true,
            ..NOTHING
        },
        why: "its own role; no token of ours",
    },
    Row {
        deliveries: &[Delivery::RuntimeSwitching],
        case: Case::OwnRole,
        gets: Gets {
            sts_regional: true,
            ..NOTHING
        },
        why: "its own role; no token of ours, and no region variables in a pod that switches profiles",
    },
];

/// The row for `delivery` and `case`; `None` only for a case that cannot occur with that
/// delivery (a bound container or one with its own `AWS_PROFILE`, without named roles).
pub fn row(delivery: Delivery, case: Case) -> Option<&'static Row> {
    TABLE
        .iter()
        .find(|row| row.case == case && row.deliveries.contains(&delivery))
}

/// What a container of this case gets with this delivery: nothing when the case cannot occur.
pub fn gets(delivery: Delivery, case: Case) -> Gets {
    row(delivery, case).map_or(NOTHING, |row| row.gets)
}

/// What decides a container's case, besides its choice.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sets {
    /// Any of the role unit, without the webhook's token mount.
    pub own_role: bool,
    /// `AWS_PROFILE`, on a container whose choice is the default role (the webhook never
    /// writes it there).
    pub own_profile: bool,
}

/// The case of a container: `nothing` (its choice is `none`), `bound` (its choice is a named
/// profile), else the default role; what it sets itself comes first.
pub fn case(nothing: bool, bound: bool, sets: Sets, delivery: Delivery) -> Case {
    if nothing {
        Case::Nothing
    } else if sets.own_role {
        Case::OwnRole
    } else if bound {
        Case::Bound
    } else if sets.own_profile && delivery != Delivery::OneRole {
        Case::OwnProfile
    } else {
        Case::DefaultRole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: [Case; 5] = [
        Case::Nothing,
        Case::OwnRole,
        Case::DefaultRole,
        Case::Bound,
        Case::OwnProfile,
    ];

    #[test]
    fn every_case_that_can_occur_has_exactly_one_row() {
        for delivery in ALL {
            for case in CASES {
                let rows = TABLE
                    .iter()
                    .filter(|r| r.case == case && r.deliveries.contains(delivery))
                    .count();
                let possible = *delivery != Delivery::OneRole || !matches!(case, Case::Bound | Case::OwnProfile);
                assert_eq!(rows, usize::from(possible), "{delivery:?} {case:?}");
            }
        }
    }

    #[test]
    fn what_the_container_sets_comes_before_its_choice() {
        let own_role = Sets {
            own_role: true,
            own_profile: true,
        };
        let own_profile = Sets {
            own_role: false,
            own_profile: true,
        };
        let d = Delivery::Profiles;
        assert_eq!(case(true, true, own_role, d), Case::Nothing);
        assert_eq!(case(false, true, own_role, d), Case::OwnRole);
        assert_eq!(case(false, true, own_profile, d), Case::Bound);
        assert_eq!(case(false, false, own_profile, d), Case::OwnProfile);
        assert_eq!(case(false, false, own_profile, Delivery::OneRole), Case::DefaultRole);
        assert_eq!(case(false, false, Sets::default(), d), Case::DefaultRole);
    }

    #[test]
    fn web_identity_variables_never_go_where_a_profile_must_win() {
        for row in &TABLE {
            if row.gets.web_identity {
                assert_eq!(row.case, Case::DefaultRole, "{row:?}");
                assert!(!row.deliveries.contains(&Delivery::RuntimeSwitching), "{row:?}");
                assert!(row.gets.session_name && row.gets.token, "{row:?}");
            }
            assert!(!row.gets.profile || row.case == Case::Bound, "{row:?}");
        }
    }
}
