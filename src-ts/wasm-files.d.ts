/** `.wasm` files imported by `inline-modules.ts`: esbuild's `base64` loader makes each a string. */
declare module '*.wasm' {
  const base64: string
  export default base64
}
