//! The OpenAPI 3.1 document at `/openapi.json`.
//!
//! Paths come from the routes themselves ([`crate::api_routes`] registers each handler with
//! its `#[utoipa::path]`), so the document lists exactly what is served. This module adds what
//! is common to all of them: the platform's title, the security schemes, and the error
//! answers any route can give (a bad query or path, a body too large, the database
//! unavailable) where a handler did not list them itself.

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, RefOr};

use crate::error::ErrorBody;

/// Who may call a route, by the scheme names of the document.
pub const CONSUMER: &str = "consumer";
pub const STAFF: &str = "staff";
pub const OPERATOR: &str = "operator";
pub const MERCHANT_SIGNATURE: &str = "merchant_signature";
pub const GATE_ID: &str = "gate_id";
pub const GATE_SIGNATURE: &str = "gate_signature";

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Cashless API",
        description = "The Cashless mobile payment platform: consumers (sign-in, real name, PIN, \
                       cards, top-up, withdrawal, statement, QR and payment-code payments, \
                       transit), merchants (signed requests, orders, refunds, notifications, \
                       staff), transit gates, the operator, and the double-entry ledger.\n\n\
                       Money is a decimal string in the currency's units with an ISO 4217 \
                       currency, never a JSON number. Every error is \
                       `{\"error\": {\"code\", \"message\"}}` with a stable `code`. Every POST \
                       that moves money is idempotent by a caller-chosen key.",
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Consumer sign-in by SMS code"),
        (name = "profile", description = "The consumer's profile and devices"),
        (name = "pin", description = "The payment PIN"),
        (name = "identity", description = "Real-name verification"),
        (name = "cards", description = "Bank cards"),
        (name = "money", description = "Top-up, withdrawal, statement"),
        (name = "payments", description = "Scanning and paying, payment codes"),
        (name = "merchant", description = "The signed merchant API"),
        (name = "staff", description = "The till's staff and their sessions"),
        (name = "transit", description = "Ride codes, gates, journeys"),
        (name = "operator", description = "Onboarding, transit administration, the SMS simulator"),
        (name = "ledger", description = "The double-entry ledger (operator)"),
        (name = "demo", description = "Demo mode only (`serve --demo`), from this machine only"),
    ),
)]
struct Base;

/// The document before any route is added.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    for (name, scheme) in schemes() {
        components.add_security_scheme(name, scheme);
    }
    document
}

fn schemes() -> Vec<(&'static str, SecurityScheme)> {
    let bearer = |description: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build(),
        )
    };
    let header = |name: &str, description: &str| {
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            name,
            description,
        )))
    };
    vec![
        (
            CONSUMER,
            bearer("a consumer's `token` (`cls_…`) from POST /v1/auth/sign-in"),
        ),
        (
            STAFF,
            bearer(
                "a staff member's `token` (`clst_…`) from POST /v1/staff/sessions: stands in \
                 for a merchant signature on /v1/merchant/ routes, within the role",
            ),
        ),
        (
            OPERATOR,
            bearer("the operator token (`--operator-token`, or <data-dir>/operator-token)"),
        ),
        (
            MERCHANT_SIGNATURE,
            header(
                "Authorization",
                "`CASHLESS-ED25519 merchant_id=\"…\",key_id=\"…\",timestamp=\"…\",nonce=\"…\",\
                 signature=\"…\"`: an Ed25519 signature (hex) by one of the merchant's keys over \
                 `CASHLESS-ED25519\\nMETHOD\\n/path?query\\ntimestamp\\nnonce\\nhex(sha256(body))`; \
                 timestamp in Unix seconds within 5 minutes of the platform's clock; nonce 8 to \
                 64 characters of [A-Za-z0-9_-], never reused (see the README)",
            ),
        ),
        (
            GATE_ID,
            header("Cashless-Gate-Id", "the registered gate's id"),
        ),
        (
            GATE_SIGNATURE,
            header(
                "Cashless-Gate-Signature",
                "hex Ed25519 by the gate's registered key over the route's domain line and \
                 the body (`cashless-gate-batch-v1\\n` + body for taps, \
                 `cashless-gate-scan-v1\\n` + body for the others)",
            ),
        ),
    ]
}

/// Completes the document made from the routes: the security each route needs, where its
/// handler did not say, and the error answers every route can give.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    close_variants(&mut document);
    for (path, item) in document.paths.paths.iter_mut() {
        for operation in operations(item) {
            if operation.security.is_none() {
                operation.security = security_of(path);
            }
            declare_path_parameters(path, operation);
            describe_pictures(operation);
            add_common_responses(path, operation);
        }
    }
    document
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Who may call a route whose handler did not declare it, by where it lives (checked from
/// outside by `tests/it/contract.rs`, which calls every secured route without credentials).
fn security_of(path: &str) -> Option<Vec<SecurityRequirement>> {
    let one = |name: &str| SecurityRequirement::new(name, Vec::<String>::new());
    let public = Some(vec![SecurityRequirement::default()]);
    let merchant = Some(vec![one(MERCHANT_SIGNATURE), one(STAFF)]);
    match path {
        "/healthz"
        | "/readyz"
        | "/v1/demo/merchants"
        | "/v1/platform/keys"
        | "/v1/transit/network"
        | "/v1/transit/gate-config"
        | "/v1/auth/sms-codes"
        | "/v1/auth/sign-in"
        | "/v1/staff/sms-codes"
        | "/v1/staff/sessions" => public,
        "/v1/staff/me" | "/v1/staff/sign-out" => Some(vec![one(STAFF)]),
        "/v1/transit/taps" | "/v1/transit/gate" | "/v1/transit/scan-image" => Some(vec![
            SecurityRequirement::new(GATE_ID, Vec::<String>::new())
                .add(GATE_SIGNATURE, Vec::<String>::new()),
        ]),
        path if path.starts_with("/v1/merchant/") => merchant,
        path if path.starts_with("/v1/operator/") || path.starts_with("/v1/ledger/") => {
            Some(vec![one(OPERATOR)])
        }
        path if path.starts_with("/v1/me") || path.starts_with("/v1/auth/") => {
            Some(vec![one(CONSUMER)])
        }
        _ => {
            tracing::error!(path, "a route with no declared security");
            None
        }
    }
}

/// Request bodies refuse fields they do not know (`deny_unknown_fields` everywhere); utoipa
/// says so of structs but not of the variants of a tagged enum (`IdentityRequest`): they are
/// closed here too.
fn close_variants(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let Some(components) = document.components.as_mut() else {
        return;
    };
    for schema in components.schemas.values_mut() {
        let RefOr::T(Schema::OneOf(one_of)) = schema else {
            continue;
        };
        for variant in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = variant {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// Every `{name}` of the path as a path parameter (a string), where the handler did not
/// describe it: axum routes by these names, so the document must name them too.
fn declare_path_parameters(path: &str, operation: &mut Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    let names = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'));
    for name in names {
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        let declared = parameters
            .iter()
            .any(|p| p.name == name && p.parameter_in == ParameterIn::Path);
        if !declared {
            parameters.push(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            );
        }
    }
}

/// A picture body (PNG or JPEG bytes) as what it is: a binary string, in either type.
fn describe_pictures(operation: &mut Operation) {
    use utoipa::openapi::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let Some(body) = operation.request_body.as_mut() else {
        return;
    };
    if !body.content.keys().any(|kind| kind.starts_with("image/")) {
        return;
    }
    let binary = || {
        Content::new(Some(RefOr::T(utoipa::openapi::schema::Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                .build(),
        ))))
    };
    body.content.clear();
    body.content.insert("image/png".to_owned(), binary());
    body.content.insert("image/jpeg".to_owned(), binary());
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                )))),
            )
            .build(),
    )
}

/// The answers any route may give that its handler need not list.
fn add_common_responses(path: &str, operation: &mut Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.iter().any(|r| *r != Default::default()));
    let has_body = operation.request_body.is_some();
    let has_path_params = path.contains('{');
    let mut common: Vec<(&str, &str)> = vec![
        (
            "400",
            "invalid_query, invalid_path, invalid_json, invalid_request: the request is not shaped \
             as this document describes",
        ),
        ("500", "internal: a bug; nothing was applied"),
        (
            "503",
            "store_unavailable: the database did not confirm; retry with the same ids",
        ),
    ];
    if secured {
        common.push(("401", "unauthorized, signature_*: no valid credentials"));
        common.push(("403", "the credentials do not allow this"));
    }
    if has_path_params {
        common.push(("404", "not_found"));
    }
    if has_path_params || has_body || operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        common.push((
            "422",
            "a value breaks its field's rule (the code says which)",
        ));
    }
    if has_body {
        common.push(("413", "body_too_large"));
        common.push(("415", "unsupported_media_type"));
    }
    for (status, description) in common {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    }
}
