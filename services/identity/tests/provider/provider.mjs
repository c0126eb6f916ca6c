// A real OpenID Connect provider (panva's certified oidc-provider) for identity's city
// login tests, run by the `oidc_provider` fixture as its own process:
//   ISSUER=http://127.0.0.1:PORT PORT=... CLIENTS='[...]' node provider.mjs
// Test users are any login name; their claims are set with PUT /test-users/<sub> (JSON).
// CLOCK_OFFSET_S moves this provider's clock (a provider whose ID tokens are already
// expired when they arrive). Sign-in and consent are the package's own development
// interaction pages (a form each), driven over HTTP by the tests.
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const offsetMs = Number(process.env.CLOCK_OFFSET_S || 0) * 1000;
if (offsetMs) {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
}

const users = new Map();
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), use: "sig", alg: "RS256", kid: "test-rs256" };

const provider = new Provider(process.env.ISSUER, {
  clients: JSON.parse(process.env.CLIENTS),
  jwks: { keys: [jwk] },
  cookies: { keys: ["kohtaamo-test-cookie-key"] },
  claims: {
    openid: ["sub"],
    profile: ["name", "birthdate", "locale"],
    email: ["email", "email_verified"],
    // Helsinki's Tunnistamo names the level of assurance `loa`.
    loa: ["loa"],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(users.get(id) || {}) };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  // Long sessions: a provider whose clock runs behind must still keep its cookies.
  ttl: { Session: 86400, Interaction: 86400, Grant: 86400, IdToken: 3600, AccessToken: 3600 },
});

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/test-users\/([^/]+)$/);
  if (match && ctx.method === "PUT") {
    let body = "";
    for await (const chunk of ctx.req) body += chunk;
    users.set(decodeURIComponent(match[1]), JSON.parse(body));
    ctx.status = 204;
    return;
  }
  await next();
});

provider.listen(Number(process.env.PORT), "127.0.0.1", () => {
  console.log(`oidc-provider listening at ${process.env.ISSUER}`);
});
