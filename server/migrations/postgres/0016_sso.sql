-- Single sign-on per brand account (issue 19): its OpenID Connect provider, and the
-- sign-ins under way.

CREATE TABLE account_sso (
    account_id            BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    issuer                TEXT    NOT NULL,
    client_id             TEXT    NOT NULL,
    -- Sealed with the server's secret key, like network tokens.
    client_secret_sealed  BYTEA NOT NULL,
    -- Off: the account's people sign in through their provider only.
    password_sign_in      BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at            BIGINT NOT NULL
);

-- A sign-in sent to the provider: its state (also in the browser's cookie), the nonce the
-- ID token must carry, and the PKCE verifier, sealed. Taken once, when the provider sends
-- the person back.
CREATE TABLE sso_pending (
    state            TEXT    PRIMARY KEY,
    account_id       BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    nonce            TEXT    NOT NULL,
    verifier_sealed  BYTEA NOT NULL,
    created_at       BIGINT NOT NULL
);
