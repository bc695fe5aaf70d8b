// A radix tree of path prefixes: finding the longest prefix of a path walks at most
// one edge per branching point, whatever the number of prefixes stored.

class PrefixNode<T> {
  value: T | undefined
  /** Children keyed by the first character code of their label. */
  readonly children = new Map<number, PrefixNode<T>>()
  constructor(public label: string) {}
}

export class PrefixTree<T> {
  private readonly root = new PrefixNode<T>('')

  set(prefix: string, value: T): void {
    let node = this.root
    let pos = 0
    while (pos < prefix.length) {
      const code = prefix.charCodeAt(pos)
      const child = node.children.get(code)
      if (!child) {
        const leaf = new PrefixNode<T>(prefix.slice(pos))
        leaf.value = value
        node.children.set(code, leaf)
        return
      }
      // Length of the common start of the child's label and the rest of the prefix.
      let common = 0
      const max = Math.min(child.label.length, prefix.length - pos)
      while (common < max && child.label.charCodeAt(common) === prefix.charCodeAt(pos + common)) common++
      if (common < child.label.length) {
        // Split the edge: a new inner node takes the common part.
        const inner = new PrefixNode<T>(child.label.slice(0, common))
        child.label = child.label.slice(common)
        inner.children.set(child.label.charCodeAt(0), child)
        node.children.set(code, inner)
        node = inner
      } else {
        node = child
      }
      pos += common
    }
    node.value = value
  }

  /** The value of the longest stored prefix of `path`, if any. */
  longest(path: string): T | undefined {
    let node = this.root
    let best = node.value
    let pos = 0
    while (pos < path.length) {
      const child = node.children.get(path.charCodeAt(pos))
      if (child === undefined || !path.startsWith(child.label, pos)) break
      pos += child.label.length
      node = child
      if (node.value !== undefined) best = node.value
    }
    return best
  }
}
