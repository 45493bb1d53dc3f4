//! Who is asking: a JWT bearer token (HS256 shared secret or RS256 public key) names the user
//! (`sub`) and their role (a configurable claim). No token: anonymous. A bad token is refused
//! with `UNAUTHENTICATED`; it never silently becomes anonymous.

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use uuid::Uuid;

use crate::config::{AuthConfig, AuthKey};

/// A user's role on the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum Role {
    /// A learner: the catalog, their own enrolments, progress and attempts.
    Student,
    /// Authors courses; sees their own courses, drafts included, and their learners there.
    Instructor,
    /// Everything.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "student" | "learner" => Some(Role::Student),
            "instructor" => Some(Role::Instructor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The person a request acts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    Anonymous,
    User { id: Uuid, role: Role },
}

/// Why a token was refused (for logs; clients get one generic message).
#[derive(Debug, PartialEq, Eq)]
pub struct AuthError(pub String);

/// Checks bearer tokens.
pub struct Authenticator {
    key: Option<(DecodingKey, Algorithm)>,
    validation: Validation,
    role_claim: String,
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let key = match &config.key {
            None => None,
            Some(AuthKey::Hs256(secret)) => Some((DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256)),
            Some(AuthKey::Rs256(pem)) => Some((
                DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| format!("AUTH_JWT_RS256_PUBLIC_KEY: {e}"))?,
                Algorithm::RS256,
            )),
        };
        let mut validation = Validation::new(key.as_ref().map_or(Algorithm::HS256, |(_, a)| *a));
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &config.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Self { key, validation, role_claim: config.role_claim.clone() })
    }

    /// The viewer of a request from its `Authorization` header value (None: no header).
    pub fn viewer(&self, authorization: Option<&str>) -> Result<Viewer, AuthError> {
        let Some(header) = authorization else { return Ok(Viewer::Anonymous) };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| AuthError("the Authorization header is not a Bearer token".into()))?
            .trim();
        let Some((key, _)) = &self.key else {
            return Err(AuthError(
                "no token key is configured (AUTH_JWT_HS256_SECRET or AUTH_JWT_RS256_PUBLIC_KEY)".into(),
            ));
        };
        if token.len() > 8192 {
            return Err(AuthError("token too long".into()));
        }
        let data = decode::<serde_json::Map<String, serde_json::Value>>(token, key, &self.validation)
            .map_err(|e| AuthError(format!("token refused: {e}")))?;
        let claims = data.claims;
        let id = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| AuthError("`sub` is not a user id".into()))?;
        let role = claims
            .get(&self.role_claim)
            .and_then(|r| r.as_str())
            .and_then(Role::parse)
            .ok_or_else(|| AuthError(format!("`{}` is not a known role", self.role_claim)))?;
        Ok(Viewer::User { id, role })
    }
}
