import { codeOf, luaCodeTable, ScriptCode, ScriptCodeError } from './script-codes';

describe('script codes', () => {
  test('a handled code comes back as the enum member', () => {
    expect(codeOf('casField', -2, [ScriptCode.Ok, ScriptCode.Conflict])).toBe(ScriptCode.Conflict);
  });
  test('a code the caller does not handle is a typed error naming script and code', () => {
    expect(() => codeOf('addToken', -3, [ScriptCode.Ok])).toThrow(new ScriptCodeError('addToken', -3));
    expect(() => codeOf('addToken', -3, [ScriptCode.Ok])).toThrow('redis script addToken answered Taken (-3)');
    expect(() => codeOf('addToken', null, [ScriptCode.Ok])).toThrow(ScriptCodeError);
  });
  test('Lua gets every code by name', () => {
    expect(luaCodeTable()).toBe('local Code = { Ok = 1, Unchanged = 0, Missing = -1, Conflict = -2, Taken = -3 }\n');
  });
});
