// The part of React's API that `@relay/sdk/react` uses. React is an optional peer dependency:
// the SDK builds without it, and an app that imports the hook brings its own React (16.8+).
declare module 'react' {
  export function useState<T>(initial: T | (() => T)): [T, (next: T | ((previous: T) => T)) => void];
  export function useEffect(effect: () => void | (() => void), deps?: readonly unknown[]): void;
}
