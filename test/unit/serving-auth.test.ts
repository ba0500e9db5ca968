import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS_ROLE, canRead, hashApiKey, newApiKey, type Principal } from '../../serving/auth/authenticator.ts';
import { loadConfig, type Config } from '../../shared/config/index.ts';

/** A config from defaults plus `overrides`, read from an empty folder so no file or environment leaks in. */
function configWith(overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ env: {}, cwd: mkdtempSync(path.join(os.tmpdir(), 'braid-serving-auth-')), overrides });
}

const withRoles = (...roles: string[]): Principal => ({ name: 'ann', kind: 'apiKey', roles });

describe('hashApiKey', () => {
  it('is the SHA-256 of the key’s UTF-8 bytes, as lower-case hex', () => {
    expect(hashApiKey('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashApiKey('brd_ключ')).toBe(createHash('sha256').update(Buffer.from('brd_ключ', 'utf8')).digest('hex'));
  });

  it('is what the config schema accepts as a key’s sha256', () => {
    const key = newApiKey();
    const config = configWith({ 'serving.auth.apiKeys': [{ name: 'dashboard', sha256: hashApiKey(key), roles: ['reader'] }] });
    expect(config.serving.auth.apiKeys[0]!.sha256).toBe(hashApiKey(key));
  });
});

describe('newApiKey', () => {
  it('is brd_ and 32 random bytes in base64url, different each time', () => {
    const keys = new Set(Array.from({ length: 20 }, () => newApiKey()));
    expect(keys.size).toBe(20);
    for (const key of keys) {
      expect(key).toMatch(/^brd_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(key.slice(4), 'base64url')).toHaveLength(32);
    }
  });
});

describe('canRead', () => {
  it('lets the default admin role read every view', () => {
    const config = configWith();
    expect(config.serving.auth.roles).toEqual({ admin: ['*'] });
    expect(canRead(config, withRoles('admin'), 'page_views')).toBe(true);
    expect(canRead(config, withRoles('admin'), 'anything_at_all')).toBe(true);
    expect(canRead(config, withRoles('reader'), 'page_views')).toBe(false);
  });

  it('grants a role exactly the views it lists', () => {
    const config = configWith({ 'serving.auth.roles': { marketing: ['page_views', 'country_minutes'], support: ['user_sessions'] } });
    expect(canRead(config, withRoles('marketing'), 'page_views')).toBe(true);
    expect(canRead(config, withRoles('marketing'), 'country_minutes')).toBe(true);
    expect(canRead(config, withRoles('marketing'), 'user_sessions')).toBe(false);
    expect(canRead(config, withRoles('support'), 'user_sessions')).toBe(true);
    expect(canRead(config, withRoles('support'), 'page_views')).toBe(false);
    // Roles configured replace the default admin role.
    expect(canRead(config, withRoles('admin'), 'page_views')).toBe(false);
  });

  it('grants what any one of the principal’s roles grants', () => {
    const config = configWith({ 'serving.auth.roles': { marketing: ['page_views'], support: ['user_sessions'] } });
    const both = withRoles('unknown', 'support', 'marketing');
    expect(canRead(config, both, 'page_views')).toBe(true);
    expect(canRead(config, both, 'user_sessions')).toBe(true);
    expect(canRead(config, both, 'country_minutes')).toBe(false);
  });

  it('refuses a principal without roles, and matches view names exactly', () => {
    const config = configWith({ 'serving.auth.roles': { marketing: ['page_views'] } });
    expect(canRead(config, withRoles(), 'page_views')).toBe(false);
    expect(canRead(config, withRoles('marketing'), 'page_views_v2')).toBe(false);
    expect(canRead(config, withRoles('marketing'), 'page')).toBe(false);
    expect(canRead(config, withRoles('Marketing'), 'page_views')).toBe(false);
  });

  it('treats * in a role’s list as every view, JWT principals included', () => {
    const config = configWith({ 'serving.auth.roles': { ops: ['page_views', '*'] } });
    expect(canRead(config, { name: 'svc', kind: 'jwt', roles: ['ops'] }, 'user_sessions')).toBe(true);
  });

  it('lets anonymous callers read every view (the authenticator only lets them in when anonymous access is on)', () => {
    const config = configWith({ 'serving.auth.roles': { marketing: ['page_views'] } });
    const anonymous: Principal = { name: 'anonymous@127.0.0.1', kind: 'anonymous', roles: [ANONYMOUS_ROLE] };
    expect(canRead(config, anonymous, 'user_sessions')).toBe(true);
  });
});

describe('canRead with roles named like Object.prototype keys', () => {
  it('refuses, not throws', () => {
    const config = loadConfig({ env: {}, cwd: mkdtempSync(path.join(os.tmpdir(), 'b-')), overrides: { 'serving.auth.roles': { reader: ['page_views'] } } });
    for (const role of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(canRead(config, { name: 'x', kind: 'jwt', roles: [role] }, 'page_views')).toBe(false);
    }
  });
});
