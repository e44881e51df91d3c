// Features an agent advertises (AgentInfo.features): how a newer caller tells an older agent,
// which ignores request fields it does not know, from one that honours them.
import { AGENT_FEATURES, hasFeature } from '../../../datapath/protocol/agent-api.js';
import { dataPortToken } from '../../../datapath/protocol/wire.js';

describe('hasFeature', () => {
  it.each([
    ['an agent older than the list (no features field)', {}, false],
    ['an agent with an empty list', { features: [] }, false],
    ['an agent naming other features only', { features: ['somethingLater'] }, false],
    ['an agent naming it', { features: ['somethingLater', 'awaitConfirm'] }, true],
  ])('%s: awaitConfirm %s', (_what, info, expected) => {
    expect(hasFeature(info, 'awaitConfirm')).toBe(expected);
  });

  it('lists awaitConfirm among what this build has', () => {
    expect(AGENT_FEATURES).toContain('awaitConfirm');
  });
});

describe('dataPortToken', () => {
  it('is derived one way: stable, distinct per token, and never contains the token', () => {
    const t = 'a-secret-token-0123456789';
    expect(dataPortToken(t)).toBe(dataPortToken(t));
    expect(dataPortToken(t)).not.toBe(dataPortToken(`${t}x`));
    expect(dataPortToken(t)).toMatch(/^fdp1\.[A-Za-z0-9_-]{43}$/);
    expect(dataPortToken(t).includes(t)).toBe(false);
  });
});
