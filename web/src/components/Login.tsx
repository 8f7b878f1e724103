import { createSignal, Show } from "solid-js";
import { devLogin } from "../session";
import { oidcLogin } from "../oidc";
import type { AuthConfig } from "../oidc";
import { Alert, messageOf } from "./ui";

/** The sign-in page: a username (embedded shape's dev login) or Keycloak (cluster shape). */
export function Login(props: { config: AuthConfig }) {
  const [username, setUsername] = createSignal("");
  const [error, setError] = createSignal<string | null>(null);
  const [busy, setBusy] = createSignal(false);

  async function submit(e: SubmitEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await devLogin(username().trim());
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="login">
      <h1>Petit chat</h1>
      <Show
        when={props.config.mode === "dev"}
        fallback={
          <button class="primary" type="button" onClick={() => void oidcLogin(props.config)}>
            Sign in
          </button>
        }
      >
        <form onSubmit={submit} aria-describedby="login-note">
          <label for="username">Username</label>
          <input id="username" name="username" autocomplete="username" required value={username()} onInput={(e) => setUsername(e.currentTarget.value)} />
          <button class="primary" type="submit" disabled={busy()}>
            Sign in
          </button>
          <p id="login-note" class="hint">
            Development sign-in: anyone on this machine can use any username.
          </p>
        </form>
      </Show>
      <Alert message={error()} />
    </main>
  );
}
