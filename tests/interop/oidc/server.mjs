// oidc-provider (8.8.1, pinned in package-lock.json) as a real
// authorization server for sansio-auth's interoperability tests.
// tests/oidc_provider.py writes the configuration (clients, resources, users,
// trusted issuers, certificate paths) and starts this script:
//
//   node server.mjs CONFIG.json [PORT]      (or OIDC_PROVIDER_PORT; 0: any)
//
// It serves HTTPS on 127.0.0.1 and prints "READY <port>" on stdout once it
// listens, and nothing else on stdout. Its stderr carries oidc-provider's
// start-up warnings and one line per refused request (the error code and
// oidc-provider's reason, which names no secret), so that a failing test can
// show why the server said no.
//
// What it enables: the client_credentials grant; client authentication by
// client_secret_basic/post, client_secret_jwt, private_key_jwt,
// tls_client_auth and self_signed_tls_client_auth; DPoP with a nonce always
// required; mTLS certificate-bound tokens; resource indicators (one JWT
// access token per resource, its aud that resource's audience). Three grants
// oidc-provider does not ship are added with registerGrantType: the password
// grant (whose refresh tokens oidc-provider's own refresh_token grant takes),
// RFC 7523's JWT bearer grant and RFC 8693's token exchange, the last two
// strict about their assertions. And one protected resource, /api/resource,
// that checks an access token the way a resource server does (DPoP with its
// own nonce and ath, or the certificate a token is bound to).

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import process from 'node:process';

import {
  EmbeddedJWK,
  calculateJwkThumbprint,
  createLocalJWKSet,
  jwtVerify,
} from 'jose';
import Provider, { errors } from 'oidc-provider';
// Internals of the exact oidc-provider version package-lock.json pins: its
// DPoP proof validator (with its nonces) for the grants registered here.
import epochTime from 'oidc-provider/lib/helpers/epoch_time.js';
import dpopValidate, { DPOP_OK_WINDOW } from 'oidc-provider/lib/helpers/validate_dpop.js';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ASYMMETRIC = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];
// How far a DPoP proof's iat may be from now at the resource, and how long a
// nonce the resource handed out stays good.
const PROOF_WINDOW = 60;
const NONCE_LIFETIME = 300;

function parseUrl(value) {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function sha256(value) {
  return crypto.createHash('sha256').update(value).digest('base64url');
}

const [configPath, portArgument] = process.argv.slice(2);
if (!configPath) {
  process.stderr.write('usage: node server.mjs CONFIG.json [PORT]\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const port = Number(portArgument ?? process.env.OIDC_PROVIDER_PORT ?? 0);

function log(line) {
  process.stderr.write(`${line}\n`);
}

// The peer certificate of this request's TLS connection, or undefined. The
// server asks every client for one and lets the handshake through without
// (rejectUnauthorized: false), so a self-signed certificate reaches the app;
// whether it chains to the client CA is socket.authorized.
function peerCertificate(ctx) {
  const socket = ctx.socket ?? ctx.req?.socket;
  if (typeof socket?.getPeerCertificate !== 'function') {
    return undefined;
  }
  const peer = socket.getPeerCertificate(true);
  if (!peer?.raw) {
    return undefined;
  }
  return new crypto.X509Certificate(peer.raw);
}

// The subject as an RFC 4514 string (most specific RDN first), the form
// clients register as tls_client_auth_subject_dn and Python's
// cryptography writes with Name.rfc4514_string(). Node prints the RDNs one a
// line in certificate order.
function subjectDn(certificate) {
  return certificate.subject.split('\n').reverse().join(',');
}

function subjectAltNames(certificate, prefix) {
  return (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith(prefix))
    .map((entry) => entry.slice(prefix.length));
}

function certificateSubjectMatches(ctx, property, expected) {
  const certificate = peerCertificate(ctx);
  if (!certificate) {
    return false;
  }
  switch (property) {
    case 'tls_client_auth_subject_dn':
      return subjectDn(certificate) === expected;
    case 'tls_client_auth_san_dns':
      return subjectAltNames(certificate, 'DNS:').includes(expected);
    case 'tls_client_auth_san_uri':
      return subjectAltNames(certificate, 'URI:').includes(expected);
    case 'tls_client_auth_san_ip':
      return subjectAltNames(certificate, 'IP Address:').includes(expected);
    case 'tls_client_auth_san_email':
      return subjectAltNames(certificate, 'email:').includes(expected);
    default:
      return false;
  }
}

// The provider's own signing key, made fresh at each start: tests read it
// from the jwks endpoint (or have no need to).
const { privateKey: signingKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...signingKey.export({ format: 'jwk' }), kid: 'as-rs256', alg: 'RS256', use: 'sig' };
const { d, p, q, dp, dq, qi, ...publicSigningJwk } = signingJwk;
const ownKeys = createLocalJWKSet({ keys: [publicSigningJwk] });

const resources = config.resources ?? {};
const users = config.users ?? {};
const resourceByAudience = new Map(
  Object.entries(resources).map(([resource, info]) => [info.audience ?? resource, resource]),
);

// What oidc-provider needs to know of a resource (RFC 8707): the audience of
// its tokens, the scopes it accepts (a token's scope is the asked ones among
// these), and that its tokens are JWTs signed RS256.
function resourceServerInfo(resource) {
  const info = resources[resource];
  if (!info) {
    throw new errors.InvalidTarget(`unknown resource ${resource}`);
  }
  return {
    scope: info.scope ?? '',
    audience: info.audience ?? resource,
    accessTokenFormat: 'jwt',
    accessTokenTTL: info.ttl ?? 3600,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// What a custom grant says about the token it issues (see issue()).
const grantClaims = new WeakMap();

const server = https.createServer({
  cert: readFileSync(config.tls.cert),
  key: readFileSync(config.tls.key),
  ca: config.tls.client_ca ? readFileSync(config.tls.client_ca) : undefined,
  requestCert: true,
  rejectUnauthorized: false,
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `https://127.0.0.1:${actualPort}`;

const provider = new Provider(issuer, {
  clients: config.clients,
  // The password grant's resource owners (see below), for the refresh_token
  // grant, which loads the account of each refresh token.
  findAccount: (ctx, sub) => (Object.hasOwn(users, sub)
    ? { accountId: sub, claims: async () => ({ sub }) }
    : undefined),
  // Every refresh rotates: a test sees the new refresh token each time.
  rotateRefreshToken: true,
  jwks: { keys: [signingJwk] },
  // The token endpoint never serves browsers: no cookies worth signing, but
  // oidc-provider wants keys for them.
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  clientAuthMethods: [
    'client_secret_basic',
    'client_secret_post',
    'client_secret_jwt',
    'private_key_jwt',
    'tls_client_auth',
    'self_signed_tls_client_auth',
  ],
  enabledJWA: {
    // oidc-provider takes ES256 and EdDSA DPoP proofs by default; the RSA
    // ones are in RFC 9449 too, and a user's key may be RSA.
    dPoPSigningAlgValues: ['ES256', 'EdDSA', 'RS256', 'PS256'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    dPoP: {
      enabled: true,
      nonceSecret: crypto.randomBytes(32),
      requireNonce: () => true,
    },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      selfSignedTlsClientAuth: true,
      tlsClientAuth: true,
      getCertificate: peerCertificate,
      certificateAuthorized: (ctx) => (ctx.socket ?? ctx.req.socket).authorized === true,
      certificateSubjectMatches,
    },
    resourceIndicators: {
      enabled: true,
      // No resource asked for: the default one, so every client_credentials
      // token is a JWT with an aud (oidc-provider's access tokens without a
      // resource are opaque and for its userinfo endpoint only).
      defaultResource: (ctx, client, oneOf) => oneOf ?? config.default_resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => resourceServerInfo(resource),
    },
  },
  // oidc-provider sets a token's extra claims at save from this function
  // (over any set before): the custom grants' claims go through it.
  extraTokenClaims: (ctx, token) => grantClaims.get(token),
  formats: {
    customizers: {
      // A custom grant names the token's subject in extra._sub (a
      // client_credentials token's subject is the client).
      jwt(ctx, token, jwt) {
        if (jwt.payload._sub !== undefined) {
          jwt.payload.sub = jwt.payload._sub;
          delete jwt.payload._sub;
        }
      },
    },
  },
});

for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'server_error']) {
  provider.on(event, (ctx, error) => {
    const detail = error.error_detail ?? error.error_description ?? error.message;
    log(`${event} ${error.error ?? error.name}: ${detail}`);
  });
}

// Assertions signed by someone the fixture trusts (the JWT bearer grant's
// assertion, a token exchange's subject or actor token of type jwt): its
// issuer must be in config.trusted_issuers, whose jwks holds the public keys.
const trusted = new Map(
  Object.entries(config.trusted_issuers ?? {}).map(([iss, jwks]) => [iss, createLocalJWKSet(jwks)]),
);

async function verifyTrustedJwt(ctx, token, what, { audience }) {
  let payload;
  try {
    const iss = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).iss;
    const keys = trusted.get(iss);
    if (!keys) {
      throw new Error('issuer not trusted');
    }
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: ASYMMETRIC,
      issuer: iss,
      audience,
      requiredClaims: ['sub', 'exp', 'jti'],
      clockTolerance: 15,
    }));
  } catch (cause) {
    throw new errors.InvalidGrant(`${what} invalid: ${cause.message}`);
  }
  const unique = await ctx.oidc.provider.ReplayDetection.unique(payload.iss, payload.jti, payload.exp + 15);
  if (!unique) {
    throw new errors.InvalidGrant(`${what} replayed (jti seen before)`);
  }
  return payload;
}

// One of this server's own access tokens (a token exchange's subject token of
// type access_token).
async function verifyOwnToken(token, what) {
  try {
    const { payload } = await jwtVerify(token, ownKeys, { issuer, typ: 'at+jwt' });
    return payload;
  } catch (cause) {
    throw new errors.InvalidGrant(`${what} invalid: ${cause.message}`);
  }
}

function single(value) {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

// The one resource a custom grant's token is for (the default when none is
// asked), its info, and the asked scopes it accepts.
function resourceAndScope(params) {
  const asked = single(params.resource);
  if (asked.length > 1) {
    throw new errors.InvalidTarget('only one resource per token');
  }
  const identifier = asked[0] ?? config.default_resource;
  const info = resourceServerInfo(identifier);
  const allowed = new Set(info.scope.split(' '));
  const scope = (params.scope ?? '').split(' ').filter((s) => allowed.has(s)).join(' ');
  return { identifier, info, scope: scope || undefined };
}

// Sender-constraining, as oidc-provider's own grants do it: a DPoP proof
// (checked by oidc-provider's own validator, with its nonces) binds the
// token to the proof's key; a client registered with
// tls_client_certificate_bound_access_tokens gets it bound to the
// certificate on the connection.
async function bindToSender(ctx, token) {
  const { client, provider: p } = ctx.oidc;
  const dPoP = await dpopValidate(ctx);
  if (dPoP) {
    const unique = await p.ReplayDetection.unique(client.clientId, dPoP.jti, epochTime() + DPOP_OK_WINDOW);
    if (!unique) {
      throw new errors.InvalidGrant('DPoP proof JWT Replay detected');
    }
    token.setThumbprint('jkt', dPoP.thumbprint);
  } else if (client.dpopBoundAccessTokens) {
    throw new errors.InvalidGrant('DPoP proof JWT not provided');
  }
  if (client.tlsClientCertificateBoundAccessTokens) {
    const certificate = peerCertificate(ctx);
    if (!certificate) {
      throw new errors.InvalidGrant('mutual TLS client certificate not provided');
    }
    token.setThumbprint('x5t', certificate);
  }
}

// A token for the client that asked, with claims saying what the grant was
// given (the jwt bearer grant and token exchange).
async function issue(ctx, { subject, extra, tokenType }) {
  const { provider: p, client, params } = ctx.oidc;
  const { identifier, info, scope } = resourceAndScope(params);
  const token = new p.ClientCredentials({ client });
  token.resourceServer = new p.ResourceServer(identifier, info);
  token.scope = scope;
  await bindToSender(ctx, token);
  grantClaims.set(token, { ...extra, _sub: subject });
  const value = await token.save();
  ctx.body = {
    access_token: value,
    expires_in: token.expiration,
    token_type: token.tokenType,
    scope: token.scope,
    ...(tokenType ? { issued_token_type: tokenType } : {}),
  };
}

// The resource owner password grant (RFC 6749 §4.3), for config.users: an
// access token and a refresh token that oidc-provider's own refresh_token
// grant takes (rotated on every use: a used one is refused, and its grant
// revoked). The refresh token is not sender-constrained (oidc-provider binds
// those of public clients only); the access tokens are, as above.
provider.registerGrantType(
  'password',
  async (ctx, next) => {
    const { provider: p, client, params } = ctx.oidc;
    if (!params.username || !params.password) {
      throw new errors.InvalidRequest('username and password are required');
    }
    const expected = Object.hasOwn(users, params.username) ? users[params.username] : undefined;
    const given = Buffer.from(params.password);
    if (
      expected === undefined
      || given.length !== Buffer.byteLength(expected)
      || !crypto.timingSafeEqual(given, Buffer.from(expected))
    ) {
      throw new errors.InvalidGrant('invalid username or password');
    }
    const { identifier, info, scope } = resourceAndScope(params);
    const grant = new p.Grant({ accountId: params.username, clientId: client.clientId });
    grant.addResourceScope(identifier, scope ?? '');
    const grantId = await grant.save();
    const at = new p.AccessToken({ accountId: params.username, client, grantId, gty: 'password' });
    at.resourceServer = new p.ResourceServer(identifier, info);
    at.scope = scope;
    await bindToSender(ctx, at);
    const rt = new p.RefreshToken({
      accountId: params.username,
      client,
      grantId,
      gty: 'password',
      scope: scope ?? '',
      resource: identifier,
      rotations: 0,
    });
    ctx.body = {
      access_token: await at.save(),
      expires_in: at.expiration,
      token_type: at.tokenType,
      refresh_token: await rt.save(),
      scope: at.scope,
    };
    await next();
  },
  ['username', 'password', 'scope', 'resource'],
  ['resource'],
);

// RFC 7523 §2.1. The assertion's aud must be the issuer or the token
// endpoint, its jti unused, its exp to come. The client authenticates as
// well (oidc-provider authenticates every client at the token endpoint).
provider.registerGrantType(
  JWT_BEARER,
  async (ctx, next) => {
    const { params } = ctx.oidc;
    // The proof first: a nonce challenge must not use up the assertion's jti.
    await dpopValidate(ctx);
    if (!params.assertion) {
      throw new errors.InvalidRequest('missing required parameter assertion');
    }
    const claims = await verifyTrustedJwt(ctx, params.assertion, 'assertion', {
      audience: [issuer, `${issuer}/token`],
    });
    await issue(ctx, {
      subject: claims.sub,
      extra: { assertion_iss: claims.iss },
    });
    await next();
  },
  ['assertion', 'scope', 'resource'],
  ['resource'],
);

// RFC 8693. The subject token is one of this server's access tokens
// (subject_token_type access_token) or a JWT from a trusted issuer (type jwt,
// aud this server); the actor token likewise. The issued token records what
// was asked (audience values, requested_token_type) and the actor as act.
provider.registerGrantType(
  TOKEN_EXCHANGE,
  async (ctx, next) => {
    const { params } = ctx.oidc;
    async function read(token, type, what) {
      if (type === ACCESS_TOKEN_TYPE) {
        return verifyOwnToken(token, what);
      }
      if (type === JWT_TYPE) {
        return verifyTrustedJwt(ctx, token, what, { audience: [issuer, `${issuer}/token`] });
      }
      throw new errors.InvalidRequest(`unsupported ${what}_type ${type}`);
    }
    await dpopValidate(ctx); // before any jti is used up, as above
    if (!params.subject_token || !params.subject_token_type) {
      throw new errors.InvalidRequest('subject_token and subject_token_type are required');
    }
    if (Boolean(params.actor_token) !== Boolean(params.actor_token_type)) {
      throw new errors.InvalidRequest('actor_token and actor_token_type go together');
    }
    const requested = params.requested_token_type ?? ACCESS_TOKEN_TYPE;
    if (requested !== ACCESS_TOKEN_TYPE && requested !== JWT_TYPE) {
      throw new errors.InvalidRequest(`unsupported requested_token_type ${requested}`);
    }
    const subject = await read(params.subject_token, params.subject_token_type, 'subject_token');
    const actor = params.actor_token
      ? await read(params.actor_token, params.actor_token_type, 'actor_token')
      : undefined;
    await issue(ctx, {
      subject: subject.sub,
      extra: {
        subject_token_type: params.subject_token_type,
        requested_audience: single(params.audience),
        ...(actor ? { act: { sub: actor.sub } } : {}),
      },
      tokenType: requested,
    });
    await next();
  },
  [
    'subject_token',
    'subject_token_type',
    'actor_token',
    'actor_token_type',
    'requested_token_type',
    'audience',
    'resource',
    'scope',
  ],
  ['audience', 'resource'],
);

// The protected resource: GET or POST /api/resource answers the token's
// claims as JSON when the token is good, or a 401 with the challenge a
// resource server sends (RFC 6750 §3, RFC 9449 §7.1 and §9).
const resourceNonces = new Map();

function newResourceNonce() {
  const now = Date.now() / 1000;
  for (const [nonce, expires] of resourceNonces) {
    if (expires < now) resourceNonces.delete(nonce);
  }
  const nonce = crypto.randomBytes(16).toString('base64url');
  resourceNonces.set(nonce, now + NONCE_LIFETIME);
  return nonce;
}

const seenProofs = new Set();

function refuse(ctx, scheme, error, description, { nonce = false } = {}) {
  ctx.status = 401;
  ctx.set('WWW-Authenticate', `${scheme} error="${error}", error_description="${description}"`);
  if (nonce) ctx.set('DPoP-Nonce', newResourceNonce());
  ctx.body = { error, error_description: description };
  log(`resource ${error}: ${description}`);
}

async function protectedResource(ctx) {
  const [scheme, value, ...rest] = (ctx.get('authorization') || '').split(' ');
  const dpopScheme = scheme?.toLowerCase() === 'dpop';
  const challenge = dpopScheme ? 'DPoP' : 'Bearer';
  if (!value || rest.length || !['bearer', 'dpop'].includes(scheme.toLowerCase())) {
    refuse(ctx, 'Bearer', 'invalid_request', 'no access token');
    return;
  }
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(value, ownKeys, { issuer, typ: 'at+jwt' }));
  } catch (cause) {
    refuse(ctx, challenge, 'invalid_token', `access token: ${cause.code ?? 'invalid'}`);
    return;
  }
  if (!single(claims.aud).some((aud) => resourceByAudience.has(aud))) {
    refuse(ctx, challenge, 'invalid_token', 'access token is for another audience');
    return;
  }
  const jkt = claims.cnf?.jkt;
  if (jkt && !dpopScheme) {
    refuse(ctx, 'DPoP', 'invalid_token', 'a DPoP-bound token must be sent with the DPoP scheme');
    return;
  }
  if (dpopScheme && !jkt) {
    refuse(ctx, 'Bearer', 'invalid_token', 'the token is not DPoP-bound');
    return;
  }
  if (jkt) {
    const proof = ctx.get('dpop');
    if (!proof) {
      refuse(ctx, 'DPoP', 'invalid_dpop_proof', 'DPoP proof missing');
      return;
    }
    let payload;
    let protectedHeader;
    try {
      ({ payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: ASYMMETRIC,
      }));
    } catch (cause) {
      refuse(ctx, 'DPoP', 'invalid_dpop_proof', `DPoP proof: ${cause.code ?? 'invalid'}`);
      return;
    }
    const expectedHtu = `${issuer}${ctx.path}`;
    const htu = parseUrl(payload.htu);
    if (htu) {
      htu.search = '';
      htu.hash = '';
    }
    const ath = sha256(value);
    const now = Date.now() / 1000;
    if (payload.htm !== ctx.method) {
      refuse(ctx, 'DPoP', 'invalid_dpop_proof', 'DPoP proof htm mismatch');
    } else if (htu?.href !== expectedHtu) {
      refuse(ctx, 'DPoP', 'invalid_dpop_proof', 'DPoP proof htu mismatch');
    } else if (payload.ath !== ath) {
      refuse(ctx, 'DPoP', 'invalid_dpop_proof', 'DPoP proof ath mismatch');
    } else if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > PROOF_WINDOW) {
      refuse(ctx, 'DPoP', 'invalid_dpop_proof', 'DPoP proof iat is not recent');
    } else if (typeof payload.jti !== 'string' || seenProofs.has(payload.jti)) {
      refuse(ctx, 'DPoP', 'invalid_dpop_proof', 'DPoP proof jti missing or replayed');
    } else if (!payload.nonce || !(resourceNonces.get(payload.nonce) > now)) {
      refuse(ctx, 'DPoP', 'use_dpop_nonce', 'resource server requires a nonce', { nonce: true });
    } else if ((await calculateJwkThumbprint(protectedHeader.jwk)) !== jkt) {
      refuse(ctx, 'DPoP', 'invalid_token', 'DPoP proof key is not the one the token is bound to');
    } else {
      seenProofs.add(payload.jti);
    }
    if (ctx.status === 401) return;
  }
  const x5t = claims.cnf?.['x5t#S256'];
  if (x5t) {
    const certificate = peerCertificate(ctx);
    const actual = certificate && sha256(certificate.raw);
    if (actual !== x5t) {
      refuse(ctx, challenge, 'invalid_token', 'the token is bound to a certificate not on this connection');
      return;
    }
  }
  ctx.status = 200;
  ctx.body = { claims, token_type: jkt ? 'DPoP' : 'Bearer' };
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/api/resource' && ['GET', 'POST'].includes(ctx.method)) {
    await protectedResource(ctx);
    return;
  }
  await next();
});

server.on('request', provider.callback());
process.stdout.write(`READY ${actualPort}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
