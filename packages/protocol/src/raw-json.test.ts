import { rawMember } from './raw-json';

describe('rawMember', () => {
  test.each<[string, string, string, string | undefined]>([
    ['string', '{"a":"x"}', 'a', '"x"'],
    ['number', '{"a":12}', 'a', '12'],
    ['big integer kept verbatim', '{"a":12345678901234567890}', 'a', '12345678901234567890'],
    ['number spelling kept', '{"a":1.50e+3}', 'a', '1.50e+3'],
    ['negative number', '{"a":-0.0}', 'a', '-0.0'],
    ['true', '{"a":true,"b":1}', 'a', 'true'],
    ['false', '{"a":false}', 'a', 'false'],
    ['null', '{"a":null}', 'a', 'null'],
    ['empty object', '{"a":{}}', 'a', '{}'],
    ['empty array', '{"a":[]}', 'a', '[]'],
    ['nested', '{"a":{"b":[1,{"c":[]}]},"d":2}', 'a', '{"b":[1,{"c":[]}]}'],
    ['whitespace inside kept', '{"a":{ "b" :\n [ 1 , 2 ] }}', 'a', '{ "b" :\n [ 1 , 2 ] }'],
    ['whitespace around trimmed', '{ "a" \t:\r\n [1] \n, "b":2 }', 'a', '[1]'],
    ['number followed by whitespace', '{"a":42 }', 'a', '42'],
    ['braces and brackets in strings', '{"a":{"s":"}]{["},"b":1}', 'a', '{"s":"}]{["}'],
    ['escaped quotes in strings', '{"a":{"s":"he said \\"}\\" ok"},"b":1}', 'a', '{"s":"he said \\"}\\" ok"}'],
    ['escaped backslash before quote', '{"a":"x\\\\","b":"y"}', 'a', '"x\\\\"'],
    ['escaped backslash in nested string', '{"a":{"s":"x\\\\"},"b":1}', 'a', '{"s":"x\\\\"}'],
    ['key after a value containing the key name', '{"b":"\\"a\\":1","a":2}', 'a', '2'],
    ['key appearing nested only', '{"b":{"a":1}}', 'a', undefined],
    ['absent key', '{"b":1}', 'a', undefined],
    ['empty object', '{}', 'a', undefined],
    ['empty object with space', ' { } ', 'a', undefined],
    ['duplicate key: last wins', '{"a":1,"b":0,"a":[2]}', 'a', '[2]'],
    ['escaped key', '{"\\u0061":"x"}', 'a', '"x"'],
    ['escaped key in payload', '{"pay\\u006coad":{"k":1}}', 'payload', '{"k":1}'],
    ['key with escaped quote', '{"a\\"b":1,"a":2}', 'a\"b', '1'],
    ['unicode value', '{"a":"é😀"}', 'a', '"é😀"'],
    ['top level is not an object', '[1]', 'a', undefined],
  ])('%s', (_name, text, key, expected) => {
    expect(rawMember(text, key)).toBe(expected);
  });

  test.each([
    ['first', '{"payload":{"x":1},"type":"event","agent_id":"athena"}'],
    ['middle', '{"type":"event","payload":{"x":1},"agent_id":"athena"}'],
    ['last', '{"type":"event","agent_id":"athena","payload":{"x":1}}'],
  ])('finds the member when it is %s', (_pos, text) => {
    expect(rawMember(text, 'payload')).toBe('{"x":1}');
    expect(rawMember(text, 'type')).toBe('"event"');
    expect(rawMember(text, 'agent_id')).toBe('"athena"');
  });

  test('the raw text parses to the same value as JSON.parse gives', () => {
    const text = '{"type":"event","payload":{"a":[1,"}",{"b":"\\"\\\\"}],"c":null,"a":2},"z":true}';
    const raw = rawMember(text, 'payload') as string;
    expect(JSON.parse(raw)).toEqual((JSON.parse(text) as { payload: unknown }).payload);
  });
});
